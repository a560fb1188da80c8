"""KD loss invariants: one-hot teacher gives CE, gradient p_s - p_t, T^2 scaling; training loss."""

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ghostnetv3.losses import kd_loss, smooth_targets, soft_cross_entropy, training_loss


@given(seed=st.integers(0, 2**16), classes=st.integers(2, 12), batch=st.integers(1, 6))
def test_one_hot_teacher_gives_cross_entropy(seed, classes, batch):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, classes, generator=g, dtype=torch.float64)
    labels = torch.randint(classes, (batch,), generator=g)
    # a teacher whose softmax is one-hot to double precision
    teacher = F.one_hot(labels, classes).double() * 1e4
    torch.testing.assert_close(kd_loss(student, teacher), F.cross_entropy(student, labels))


@given(seed=st.integers(0, 2**16), temperature=st.sampled_from([1.0, 2.0, 4.0]))
def test_gradient_is_t_times_ps_minus_pt(seed, temperature):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(3, 7, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(3, 7, generator=g, dtype=torch.float64)
    kd_loss(student, teacher, temperature).backward()
    p_s = F.softmax(student.detach() / temperature, -1)
    p_t = F.softmax(teacher / temperature, -1)
    # d/dz [T^2 * CE(p_t, softmax(z/T))] / batch = T (p_s - p_t) / batch
    torch.testing.assert_close(student.grad, temperature * (p_s - p_t) / 3)


def test_gradient_zero_when_student_equals_teacher():
    z = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    kd_loss(z, z.detach().clone(), 3.0).backward()
    assert z.grad.abs().max() < 1e-15


def test_temperature_scales_by_t_squared():
    student, teacher = torch.randn(5, 6), torch.randn(5, 6)
    for t in (2.0, 4.0):
        soft = soft_cross_entropy(student / t, F.softmax(teacher / t, -1))
        torch.testing.assert_close(kd_loss(student, teacher, t), t * t * soft)
    # the temperature is honoured, unlike the official script's unused --temperature
    assert not torch.allclose(kd_loss(student, teacher, 1.0), kd_loss(student, teacher, 4.0))


def test_label_smoothing_matches_torch():
    logits, labels = torch.randn(6, 10), torch.randint(10, (6,))
    ours = soft_cross_entropy(logits, smooth_targets(labels, 10, 0.1))
    torch.testing.assert_close(ours, F.cross_entropy(logits, labels, label_smoothing=0.1))


def test_training_loss_weights():
    logits, labels, teacher = torch.randn(4, 3), torch.randint(3, (4,)), torch.randn(4, 3)
    target = smooth_targets(labels, 3, 0.0)
    total, parts = training_loss(logits, target, teacher, 0.5, 2.0, 2.0)
    torch.testing.assert_close(total, 0.5 * F.cross_entropy(logits, labels)
                               + 2.0 * kd_loss(logits, teacher, 2.0))
    assert set(parts) == {"ce", "kd"}
    _, no_kd = training_loss(logits, target, None, 1.0, 1.0, 1.0)
    assert set(no_kd) == {"ce"}
