"""Fixed English text for the LLM perplexity benchmark, written for this repository (original
prose, no external source), so the numbers need no download. Two disjoint splits: CALIBRATION
(scale-only QAT) and HELDOUT (perplexity). Never train on HELDOUT.
"""

CALIBRATION = """\
The small harbour town wakes up before the sun. Fishing boats leave the quay one after another, \
their engines coughing in the cold air, and the gulls follow them out past the lighthouse. By \
seven o'clock the bakery on the corner has opened its shutters, and the smell of fresh bread \
drifts down the main street. Children walk to school in pairs, carrying bags that seem too large \
for them, while their parents stop at the café for a quick coffee before work.

In the afternoon the tide goes out and leaves a wide stretch of wet sand. Old men sit on the \
benches along the sea wall and argue about football, the weather and the price of diesel. \
Tourists arrive on the two o'clock bus, take photographs of the painted houses and buy postcards \
that they will probably never send. When the boats return in the evening, the catch is sorted on \
the quay: cod and haddock in one crate, crabs in another, and the small fish that nobody wants \
thrown back to the waiting birds.

A good recipe for vegetable soup starts with an onion, two carrots and a stick of celery, all \
chopped into small pieces. Warm a spoonful of olive oil in a heavy pot and cook the vegetables \
slowly for ten minutes, stirring from time to time, until they are soft but not brown. Add a \
litre of stock, a handful of lentils and a tin of tomatoes, then let the soup simmer for half an \
hour. Season it with salt, pepper and a little thyme. It tastes even better the next day, when \
the flavours have had time to settle.

Learning to ride a bicycle is mostly a matter of trust. At first the rider grips the handlebars \
too tightly and stares at the front wheel, which makes the bicycle wobble. The trick is to look \
ahead, to pedal steadily and to let the balance come by itself. Most people remember the moment \
when the hand holding the saddle let go and they kept moving without noticing. After that day, \
the skill never really disappears, even after years without practice.

Libraries have changed a great deal over the last thirty years. Card catalogues have been \
replaced by computers, and many readers now borrow electronic books without ever visiting the \
building. Yet the reading rooms are still full in the afternoons. Students come to study in \
silence, retired teachers read the newspapers, and parents bring small children to the story \
hour on Saturday mornings. For many people the library remains one of the few public places \
where nobody expects them to buy anything.

The weather report for the weekend promises a mixture of sunshine and showers. On Saturday a \
band of rain will cross the country from the west in the morning, followed by brighter spells \
and a fresh breeze. Sunday should be drier, with temperatures a little above the average for \
the season. Anyone planning a walk in the hills is advised to carry a waterproof jacket and to \
check the forecast again before setting out.
"""

HELDOUT = """\
Every spring the river that runs through the valley rises with the melting snow. For a few weeks \
the water is brown and fast, carrying branches and sometimes whole trees down towards the lake. \
The farmers who live along its banks have learned to move their animals to higher fields in \
March, and most of them keep a small boat tied behind the barn, just in case. By the middle of \
May the river calms down again, the water turns clear, and the children return to the shallow \
pools where they catch small fish with their hands.

The village school has only three classrooms. The youngest pupils learn to read and count in \
the room nearest the door, where the light is best in the morning. The middle class studies \
history, geography and a little science, and the oldest children prepare for the examinations \
that will decide which secondary school they attend in the town. The teachers know every family \
by name, and when a child is absent for more than a day, someone usually walks over to ask \
whether everything is all right.

Making bread at home takes patience more than skill. Flour, water, salt and yeast are mixed into \
a rough dough, which is then kneaded for about ten minutes until it becomes smooth and elastic. \
The dough is left to rise in a warm place, covered with a damp cloth, until it has doubled in \
size. After that it is shaped into a loaf, allowed to rise a second time, and baked in a hot \
oven for around forty minutes. A loaf is ready when it sounds hollow if you tap the bottom. The \
hardest part is waiting for it to cool before cutting the first slice.

Trains have always been a good way to see a country. From the window of a carriage the traveller \
watches fields, forests and small stations pass by, each with its own wooden bench and its own \
clock. People read, sleep, eat sandwiches and talk to strangers they will never meet again. On \
long journeys there is a special kind of freedom: nothing needs to be done except to sit and look \
outside. Many travellers say that they remember the journey better than the place they were \
going to.

A garden needs attention all through the year. In autumn the fallen leaves are raked together \
and added to the compost heap, the last apples are picked, and bulbs are planted for the next \
spring. Winter is the time to repair the fences, clean the tools and plan which vegetables to \
grow. In spring the soil is turned over, seeds are sown in neat rows, and young plants are \
protected from the late frosts. Summer brings the reward: beans, tomatoes, lettuce and \
strawberries, more than one family can eat, so the neighbours usually receive a basket or two.

The museum in the old customs house tells the story of the port. On the ground floor there are \
models of the ships that once sailed from the harbour, from small wooden fishing boats to the \
great steamers that carried passengers across the ocean. Upstairs, glass cases hold maps, \
letters and photographs donated by local families. One room is dedicated to the storm of the \
winter of nineteen fifty-three, when the sea broke through the harbour wall and flooded the lower \
streets. Visitors often stay longest in front of the photographs of that night.

Good sleep is one of the simplest ways to stay healthy. Doctors recommend going to bed and \
getting up at roughly the same time every day, even at weekends. The bedroom should be dark, \
quiet and not too warm. Coffee and heavy meals late in the evening make it harder to fall asleep, \
and so does the bright light of a phone or a computer screen. A short walk after dinner, a warm \
shower or a few pages of a book can help the body understand that the day is coming to an end.

The city council met on Tuesday evening to discuss the plan for the new park. The land, which \
used to belong to a factory, has been empty for almost twenty years. According to the proposal, \
the park will include a playground, a small lake, paths for walking and cycling, and a field \
where people can play football. Several residents spoke in favour of the plan, although some \
asked for more trees and fewer parking spaces. The council will vote on the final design next \
month, and work could begin before the end of the year.

Mountain walking is safest when it is well prepared. Before leaving, walkers should study the \
route on a map, estimate how long it will take and tell someone where they are going. Good boots, \
warm clothes, water, food and a simple first aid kit belong in every rucksack. The weather in the \
mountains can change very quickly, so it is wise to turn back early rather than to continue into \
fog or a storm. The summit will still be there another day.

Bees play a quiet but essential role in the countryside. As they move from flower to flower \
collecting nectar, they carry pollen that allows fruit trees, vegetables and wild plants to \
produce seeds. A single hive can contain tens of thousands of bees, each with its own task: some \
clean the cells, some feed the young, some guard the entrance and others fly out to gather food. \
In recent years many farmers have started to leave strips of wild flowers along the edges of \
their fields to give the bees more places to feed.

The old clock in the town square stopped one winter and nobody repaired it for years. People \
got used to it showing twenty past four at every hour of the day, and visitors were often \
confused when they tried to catch a bus. Finally a retired engineer offered to fix it for free. \
He spent three months climbing the narrow stairs of the tower every morning, cleaning gears, \
replacing springs and oiling the mechanism. When the bells rang again at noon on a Sunday in \
June, half the town came out to listen, and the engineer was invited to lunch by the mayor.

Learning a second language as an adult is slow, but it is never too late. The first months are \
the most difficult, because every sentence requires effort and mistakes are frequent. Listening \
to the radio, reading simple stories and speaking with patient friends all help. Little by \
little the new words stop feeling strange, and one day the learner notices that they have \
understood a whole conversation without translating it in their head. That moment makes all the \
hours of practice feel worthwhile.

At the end of the summer the fair comes to the meadow beside the church. For one week there are \
rides, games and stalls selling sweets, toys and hot food. In the evening the coloured lights of \
the big wheel can be seen from every house in the village. Older residents remember when the fair \
was much smaller, with only a merry-go-round and a tent where a man played the accordion, but \
they still walk down every year to buy a bag of roasted nuts and to watch the children laugh.
"""
