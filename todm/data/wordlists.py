"""Curated word lists of the embedded corpus's sentence grammar (todm.data.text) and its lexicon filters.

Curated, not derived: espeak-ng reads each entry as a word (not letter by letter), and slot fillers of the
assistant domain (names, places, apps, rooms) must sound like what people ask a device.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    """A curated word list written as whitespace-separated text (easier to read and edit than literals)."""
    return tuple(text.split())


def _phrases(text: str) -> tuple[str, ...]:
    """A curated list of (possibly multi-word) phrases written as comma-separated text."""
    return tuple(" ".join(p.split()) for p in text.split(","))


ONES = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
)
TENS = _words("_ _ twenty thirty forty fifty sixty seventy eighty ninety")
ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MONTHS = _words("january february march april may june july august september october november december")
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
WEEKDAYS = _words("monday tuesday wednesday thursday friday saturday sunday")

# Slot fillers of the assistant domain (curated: espeak-ng reads each as a word, not letter by letter).
NAMES = _words("""
alice anna amy andrew anthony ben betty brian carlos charlotte chris daniel david diana edward elena emily
emma eric frank george grace hannah harry helen henry isabel jack jacob james jane jason jennifer jessica
john joseph julia karen kate kevin laura linda lisa lucas lucy maria mark martin mary matthew michael
michelle nancy nathan nicole oliver olivia patrick paul peter rachel rebecca richard robert ruth sam sarah
simon sophie steven susan thomas victor walter william zoe oscar leo mia noah ethan chloe ryan megan tony
""")
PLACES = _words("""
london paris berlin madrid rome tokyo boston chicago denver seattle dallas houston miami atlanta toronto
vancouver sydney melbourne dublin glasgow edinburgh manchester liverpool bristol oxford cambridge vienna
prague amsterdam brussels lisbon athens cairo nairobi mumbai delhi beijing shanghai singapore bangkok
moscow warsaw stockholm oslo helsinki copenhagen zurich geneva montreal phoenix portland austin nashville
canada mexico brazil france spain italy germany japan china india egypt kenya ireland scotland norway
""")
APPS = _words(
    "spotify youtube netflix maps calendar camera gallery settings messages email weather notes clock"
)
DEVICES = _words("lights heater fan television radio oven dishwasher kettle lamp speaker alarm thermostat")
ROOMS = _phrases("""
kitchen, bedroom, bathroom, garage, office, basement, hallway, garden, living room, dining room, nursery,
attic
""")
CONTACTS = _phrases("""
mom, dad, my sister, my brother, my wife, my husband, my boss, grandma, the doctor, the office, my
neighbour, the school
""")
EVENTS = _words("meeting appointment dinner lunch flight interview class party game concert trip call")
UNITS = _words("miles kilometers pounds kilograms inches centimeters feet meters ounces grams cups liters")
GENRES = _words("jazz rock classical country pop blues reggae folk soul")
SPORTS = _words("football soccer basketball baseball tennis hockey cricket rugby")
STORES = ("pharmacy", "supermarket", "bakery", "gas station", "hospital", "bank", "library", "cafe", "hotel")
TIMES_OF_DAY = ("in the morning", "in the afternoon", "in the evening", "at night", "tonight", "tomorrow")
WHEN = _phrases("""
today, tomorrow, tonight, this weekend, next week, this afternoon, on monday, on friday, later today,
tomorrow morning, next month, this evening
""")

# Closed classes for the svo grammar.
DETERMINERS = ("the", "a", "this", "that", "every", "one", "my", "your", "our", "their", "his", "her")
PLURAL_DETERMINERS = ("the", "some", "many", "these", "those", "two", "three", "few", "all the", "our")
PREPOSITIONS = _words(
    "in on near under behind with without for from after before across inside beside above around through"
)
NEGATIONS = ("did not", "didn't", "won't", "can't", "will not")
PRONOUNS = ("i", "you", "we", "they", "he", "she")
ADVERBIALS = _phrases("""
yesterday, today, last night, every morning, again, last week, at home, on sunday, this year, quietly,
quickly, after dinner, once, twice
""")
COMMON_ADJECTIVES = _words("""
good bad big small old new young long short high low hot cold warm cool dark bright happy sad quiet loud
fast slow early late rich poor strong weak soft hard heavy clean dirty empty full green red blue black white
yellow brown grey pink orange purple tall wide narrow deep thin thick fresh sweet bitter sharp smooth rough
strange simple clever kind brave proud calm busy wild tiny huge large little nice fine great free lucky
""")
# (base, past) of frequent irregular verbs; the morphological rule below finds the regular ones.
IRREGULAR_VERBS = dict(
    pair.split("/")
    for pair in _words("""
bring/brought buy/bought catch/caught choose/chose draw/drew drink/drank drive/drove eat/ate feed/fed
find/found forget/forgot give/gave hear/heard hide/hid hold/held keep/kept know/knew lead/led leave/left
lend/lent lose/lost make/made meet/met pay/paid read/read ride/rode see/saw sell/sold send/sent
shake/shook show/showed sing/sang steal/stole take/took teach/taught tell/told throw/threw
understand/understood wear/wore win/won write/wrote break/broke build/built carry/carried sweep/swept
hit/hit cut/cut think/thought say/said come/came feel/felt put/put let/let mean/meant become/became
run/ran get/got set/set sit/sat stand/stood speak/spoke begin/began grow/grew fall/fell fly/flew
forgive/forgave spend/spent
""")
)
# Closed-class words (and a few others) that the morphology rules below misfile as nouns or verbs ("that" has
# a form "thats", "car" one "cared"); they matter since the Zipf draw favours exactly these frequent words.
FUNCTION_WORDS = set(
    _words("""
the this that these those what which who whom whose where when why how there here then than now your his
her its our their them they you she him one ones not can could will would shall should may might must does
did done had has have having been being out over off down back still well right just only even also
very too much many more most other some such own same into onto through during before after above below
between under again once while because until about against all any both each few yes yeah okay please
thank thanks hello last next four far try due wrong single working saying car
""")
)
# Words a learner of this corpus should not see, and abbreviations espeak spells letter by letter.
BLOCKLIST = set(
    _words("""
sex sexy porn fuck shit bitch whore slut dick cock pussy ass damn hell nigga nigger fag rape rapist
penis vagina boob boobs tit tits cum nude naked gay lesbian sexual erotic escort drug drugs cocaine heroin
kill killer murder suicide terrorist nazi slave bomb gun guns weapon shooting nba nfl mlb cnn bbc ios pdf
usa hiv aids vol rep dept etc sat sun mon tue wed thu fri jan feb mar apr jun jul aug sep oct nov dec
http www com org html url gps dvd mph kg km cm mm ml lb lbs
""")
)
