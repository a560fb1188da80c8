"""Reading and writing videos as frame arrays (.mp4 via PyAV, or lossless .npz)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


class VideoDecodeError(RuntimeError):
    """A video file is missing, empty or cannot be decoded."""


def read_video(path: str | Path, fps: float | None = None) -> np.ndarray:
    """Decode a video into a (T, H, W, 3) uint8 array.

    ``fps`` resamples to that rate by taking, for each output time k/fps, the last frame whose
    timestamp is <= k/fps (the ffmpeg ``fps`` filter's choice). ``.npz`` files hold one array
    ``frames`` already at 1 fps.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: video file not found")
    if path.suffix == ".npz":
        try:
            with np.load(path) as data:
                frames = data["frames"]
        except Exception as error:  # zip/pickle errors differ by numpy version
            raise VideoDecodeError(
                f"{path}: cannot read 'frames' array from npz ({error})"
            ) from None
        _check_frames(frames, path)
        return frames
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames, times = [], []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.time) if frame.time is not None else len(times))
    except (av.error.FFmpegError, IndexError, ValueError) as error:
        raise VideoDecodeError(f"{path}: cannot decode video ({error})") from None
    if not frames:
        raise VideoDecodeError(f"{path}: no decodable video frames")
    video = np.stack(frames)
    if fps is not None:
        t = np.asarray(times) - times[0]
        wanted = np.arange(int(np.floor(t[-1] * fps)) + 1) / fps
        video = video[np.clip(np.searchsorted(t, wanted + 1e-6, side="right") - 1, 0, len(t) - 1)]
    return video


def _check_frames(frames: np.ndarray, path: Path) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise VideoDecodeError(
            f"{path}: expected frames of shape (T>0, H, W, 3) uint8, "
            f"got {frames.shape} {frames.dtype}"
        )


def write_video(path: str | Path, frames: np.ndarray, fps: int = 1) -> None:
    """Write frames atomically: ``.npz`` is lossless, ``.mp4`` is H.264 (lossy like real copies)."""
    path = Path(path)
    _check_frames(frames, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        if path.suffix == ".npz":
            np.savez_compressed(tmp, frames=frames)
        elif path.suffix == ".mp4":
            import av

            with av.open(tmp, "w") as container:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
                stream.pix_fmt = "yuv420p"
                for image in frames:
                    image = np.ascontiguousarray(image[: stream.height, : stream.width])
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                container.mux(stream.encode())
        else:
            raise ValueError(f"{path}: unsupported video extension (expected .npz or .mp4)")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
