"""Common given and family names of several countries (test data for false-positive rates).

Drawn from the most frequent names each country's statistics office or civil registry
publishes, written as a DICOM header would hold them (ASCII or the country's script),
including the short ones that collide with words: Li, Wu, Ono, Itō, Lane, Mary, Lima, Kind.
"""

from __future__ import annotations

import random

__all__ = ["FAMILY", "GIVEN", "NAMES", "draw_names"]

#: country → (family names, given names)
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "SE": (
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
         "Persson", "Svensson", "Gustafsson", "Lind", "Berg", "Ek", "Åberg", "Öberg"),
        ("Anna", "Eva", "Maria", "Karin", "Sara", "Lars", "Mikael", "Anders", "Johan", "Erik",
         "Per", "Åsa", "Björn", "Ulf", "Bo"),
    ),
    "FI": (
        ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine",
         "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Salo", "Aho", "Kivi", "Oja"),
        ("Juhani", "Johannes", "Mikael", "Matti", "Timo", "Maria", "Helena", "Johanna",
         "Anneli", "Aino", "Eino", "Aku", "Essi", "Ilona", "Satu"),
    ),
    "DE": (
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Koch", "Wolf", "Kind", "Lange", "Groß", "Voß"),
        ("Ursula", "Monika", "Petra", "Sabine", "Peter", "Michael", "Thomas", "Andreas",
         "Jürgen", "Klaus", "Uwe", "Jörg", "Karl", "Max", "Emma"),
    ),
    "ES": (
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez",
         "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Núñez", "Díaz", "Lima", "Río"),
        ("María", "Carmen", "Josefa", "Isabel", "Ana", "Antonio", "Manuel", "José",
         "Francisco", "David", "Juan", "Javier", "Luis", "Pilar", "Sol"),
    ),
    "JP": (
        ("Satō", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Itō", "Yamamoto", "Nakamura",
         "Kobayashi", "Katō", "Ono", "Abe", "Endō", "Mori", "Ueda"),
        ("Hiroshi", "Takashi", "Akira", "Yūki", "Haruto", "Yui", "Aoi", "Hina", "Emi",
         "Kenji", "Ren", "Sō", "Ai", "Mio", "Kei"),
    ),
    "KR": (
        ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han",
         "Oh", "Seo", "Shin", "Kwon"),
        ("Min-jun", "Seo-yeon", "Ji-ho", "Ha-eun", "Do-yun", "Ji-woo", "Seo-jun", "Su-bin",
         "Ye-jin", "Hyun-woo", "Jin", "Eun", "Min", "Hana", "Yuna"),
    ),
    "CN": (
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu",
         "Sun", "Ma", "Zhu", "Hu"),
        ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong",
         "Yan", "Jie", "Tao", "Ming"),
    ),
    "UK": (
        ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
         "Thomas", "Johnson", "Roberts", "Lane", "Hill", "Wood", "Hall", "Head", "Long"),
        ("Mary", "Margaret", "Susan", "Sarah", "Emma", "John", "David", "Peter", "James",
         "Paul", "Mark", "Ian", "Amy", "Lily", "Tom"),
    ),
    "NG": (
        ("Okafor", "Adeyemi", "Okonkwo", "Eze", "Bello", "Abubakar", "Ibrahim", "Nwosu",
         "Obi", "Adebayo", "Ogunleye", "Musa", "Umar", "Ali", "Ade"),
        ("Chinedu", "Ngozi", "Oluwaseun", "Adaeze", "Emeka", "Aisha", "Fatima", "Tunde",
         "Bola", "Ifeoma", "Uche", "Yusuf", "Ada", "Obi", "Kemi"),
    ),
    "IN": (
        ("Kumar", "Singh", "Sharma", "Patel", "Gupta", "Reddy", "Rao", "Das", "Shah", "Iyer",
         "Nair", "Jain", "Khan", "Bose", "Roy"),
        ("Aarav", "Vivaan", "Aditya", "Priya", "Ananya", "Diya", "Lakshmi", "Ravi", "Amit",
         "Sunita", "Anil", "Raj", "Asha", "Om", "Dev"),
    ),
}
FAMILY: tuple[str, ...] = tuple(name for family, _ in NAMES.values() for name in family)
GIVEN: tuple[str, ...] = tuple(name for _, given in NAMES.values() for name in given)


def draw_names(count: int, *, seed: int = 0) -> list[str]:
    """Return ``count`` DICOM person names (``FAMILY^GIVEN``), every country in turn."""
    rng = random.Random(seed)
    countries = sorted(NAMES)
    names = []
    for index in range(count):
        family, given = NAMES[countries[index % len(countries)]]
        names.append(f"{rng.choice(family)}^{rng.choice(given)}")
    return names
