"""The sandbox's population: people as they type themselves into a CRM or a sign-up form.

`generate_people(size, seed)` is deterministic and shared by every sandbox dataset (the Campaign
Monitor world now, the Salesforce org later): the same size and seed give the same people.

Names come in many scripts (Latin with accents, Cyrillic, Greek, CJK, Hangul, Arabic, Hebrew,
Devanagari); e-mail addresses are ASCII, on reserved example domains, with the capitals people type;
mobile numbers are typed in the local format of the person's country, with their E.164 form when
the typed number has one. Standard library only.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

SIZES = ("tiny", "small", "medium", "large")

# How many people each size holds: about 60% of the Campaign Monitor memberships.
POPULATION: dict[str, int] = {"tiny": 190, "small": 3000, "medium": 17500, "large": 64000}


@dataclass(slots=True)
class Person:
    email: str  # as the person typed it (capitals kept); unique in the population by its lower-case form
    first_name: str
    last_name: str
    mobile_local: str  # as typed in a CRM, in the country's local format; "" when none
    mobile_e164: str  # the E.164 form of mobile_local, or "" when none or not a valid number
    country_code: str  # ISO 3166-1 alpha-2
    name: str = ""  # the full name as shown (family name first in Chinese, Japanese and Korean)
    locale: str = ""  # e.g. "ru_RU"
    city: str = ""  # home city, a name from CITIES
    company: str = ""
    job_title: str = ""
    birthday: str = ""  # YYYY-MM-DD or ""

    @property
    def email_lower(self) -> str:
        return self.email.lower()


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    country_code: str
    country_name: str
    latitude: float
    longitude: float
    ip_prefix: str  # the first two octets of the addresses the sandbox gives people there


CITIES: tuple[City, ...] = (
    City("Sydney", "New South Wales", "AU", "Australia", -33.8688, 151.2093, "101.160"),
    City("Melbourne", "Victoria", "AU", "Australia", -37.8136, 144.9631, "49.176"),
    City("New York", "New York", "US", "United States of America", 40.7128, -74.006, "72.229"),
    City("San Francisco", "California", "US", "United States of America", 37.7749, -122.4194, "73.162"),
    City("Chicago", "Illinois", "US", "United States of America", 41.8781, -87.6298, "98.213"),
    City("London", "England", "GB", "United Kingdom", 51.5074, -0.1278, "81.2"),
    City("Manchester", "England", "GB", "United Kingdom", 53.4808, -2.2426, "86.10"),
    City("Berlin", "Berlin", "DE", "Germany", 52.52, 13.405, "91.64"),
    City("Munich", "Bavaria", "DE", "Germany", 48.1351, 11.582, "84.150"),
    City("Paris", "Île-de-France", "FR", "France", 48.8566, 2.3522, "90.84"),
    City("Madrid", "Madrid", "ES", "Spain", 40.4168, -3.7038, "83.59"),
    City("Mexico City", "Mexico City", "MX", "Mexico", 19.4326, -99.1332, "187.188"),
    City("São Paulo", "São Paulo", "BR", "Brazil", -23.5505, -46.6333, "177.68"),
    City("Moscow", "Moscow", "RU", "Russia", 55.7558, 37.6173, "95.24"),
    City("Athens", "Attica", "GR", "Greece", 37.9838, 23.7275, "79.130"),
    City("Shanghai", "Shanghai", "CN", "China", 31.2304, 121.4737, "116.224"),
    City("Tokyo", "Tokyo", "JP", "Japan", 35.6762, 139.6503, "126.36"),
    City("Seoul", "Seoul", "KR", "South Korea", 37.5665, 126.978, "121.134"),
    City("Dubai", "Dubai", "AE", "United Arab Emirates", 25.2048, 55.2708, "94.200"),
    City("Tel Aviv", "Tel Aviv", "IL", "Israel", 32.0853, 34.7818, "79.176"),
    City("Mumbai", "Maharashtra", "IN", "India", 19.076, 72.8777, "49.36"),
    City("Bengaluru", "Karnataka", "IN", "India", 12.9716, 77.5946, "106.51"),
    City("Warsaw", "Masovia", "PL", "Poland", 52.2297, 21.0122, "83.25"),
    City("Rome", "Lazio", "IT", "Italy", 41.9028, 12.4964, "93.40"),
)
CITY_BY_NAME: dict[str, City] = {city.name: city for city in CITIES}

COUNTRY_NAMES: dict[str, str] = {city.country_code: city.country_name for city in CITIES}

# A name is (as written, as romanised for the e-mail address); Latin names romanise themselves.
_Name = tuple[str, str]


@dataclass(frozen=True)
class _Locale:
    code: str
    country: str
    weight: int
    first: tuple[_Name, ...]
    last: tuple[_Name, ...]
    order: str = "western"  # western "First Last"; eastern "LastFirst"; eastern_spaced "Last First"
    latin_share: float = 1.0  # for other scripts: how often the person typed their name in Latin letters
    female_suffix: bool = False  # Russian surnames take -a for women


def _latin(names: str) -> tuple[_Name, ...]:
    """ "José|María José" -> (("José", "José"), ("María José", "María José"))."""
    return tuple((name, name) for name in names.split("|"))


def _pairs(text: str) -> tuple[_Name, ...]:
    """ "Алексей:aleksey Иван:ivan" -> (("Алексей", "aleksey"), ("Иван", "ivan"))."""
    return tuple((item.split(":")[0], item.split(":")[1]) for item in text.split())


_LOCALES: tuple[_Locale, ...] = (
    _Locale(
        "en_US",
        "US",
        16,
        _latin("James|Mary|Michael|Jennifer|David|Linda|Robert|Patricia|John|Elizabeth|William|Barbara|Chris|Jessica"),
        _latin(
            "Smith|Johnson|Williams|Brown|Jones|Miller|Davis|Wilson|Anderson|Taylor|Moore|O'Brien|McDonald|Van Dyke"
        ),
    ),
    _Locale(
        "en_GB",
        "GB",
        10,
        _latin("Oliver|Amelia|George|Isla|Harry|Ava|Jack|Emily|Charlie|Sophie|Alfie|Poppy|Freddie|Grace|Siobhan|Rhys"),
        _latin("Smith|Jones|Taylor|Evans|Roberts|Davies|Wright|Hughes|Patel|Khan|Walsh|Edwards|Ffrench|Smythe-Jones"),
    ),
    _Locale(
        "en_AU",
        "AU",
        10,
        _latin("Jack|Olivia|Noah|Charlotte|Liam|Mia|Lachlan|Matilda|Isla|Thomas|Chloe|Harper|Cooper|Zara"),
        _latin("Smith|Jones|Williams|Brown|Wilson|Nguyen|Kelly|Ryan|Martin|Walker|Campbell|Mitchell|Tran|O'Connor"),
    ),
    _Locale(
        "es_ES",
        "ES",
        5,
        _latin("José|María|Ana|Lucía|Sofía|Álvaro|Andrés|Íñigo|Begoña|Jesús|Raúl|Martín|Inés|Nuria|María José"),
        _latin("López|García|Martínez|Rodríguez|Fernández|Sánchez|Pérez|Gómez|Díaz|Muñoz|Ibáñez|Peña|García Márquez"),
    ),
    _Locale(
        "es_MX",
        "MX",
        3,
        _latin("Juan|Guadalupe|Alejandro|Ximena|Mónica|Héctor|Fernanda|Ángel|Valeria"),
        _latin("Hernández|González|Ramírez|Cruz|Flores|Gutiérrez|Ortiz|Chávez|Vázquez"),
    ),
    _Locale(
        "fr_FR",
        "FR",
        5,
        _latin("François|Hélène|Élodie|Jérôme|Amélie|Cécile|Benoît|Loïc|Gaëlle|Théo|Chloé|Noémie|René|Zoë|Jean-Luc"),
        _latin("Dupont|Lefèvre|Mercier|Bérenger|Girard|Moreau|Fournier|Rousseau|Lemaître|Garçon|Dubois|de La Fontaine"),
    ),
    _Locale(
        "de_DE",
        "DE",
        6,
        _latin("Lukas|Jonas|Sören|Jürgen|Anna|Lena|Käthe|Björn|Maximilian|Felix|Hannah|Günter|Ursula|Jörg"),
        _latin("Müller|Schröder|Schäfer|Weiß|Groß|Fischer|Becker|Hoffmann|Köhler|Krüger|Koch|Müller-Lüdenscheidt"),
    ),
    _Locale(
        "pt_BR",
        "BR",
        4,
        _latin("João|Maria|Ana|José|Luíza|Antônio|Beatriz|Conceição|Gabriel|Letícia|Thiago|Vitória"),
        _latin("Silva|Santos|Oliveira|Souza|Gonçalves|Araújo|Conceição|Lima|Ferreira|Simões|Magalhães|Brandão"),
    ),
    _Locale(
        "it_IT",
        "IT",
        3,
        _latin("Niccolò|Giuseppe|Francesca|Chiara|Lorenzo|Giulia|Mattia|Martina|Nicolò"),
        _latin("Rossi|Russo|Ferrari|Esposito|Bianchi|Romano|Colombo|De Luca|D'Angelo"),
    ),
    _Locale(
        "pl_PL",
        "PL",
        3,
        _latin("Łukasz|Paweł|Małgorzata|Agnieszka|Krzysztof|Wojciech|Zofia|Michał|Bożena"),
        _latin("Nowak|Kowalski|Wiśniewski|Wójcik|Kowalczyk|Kamiński|Zieliński|Dąbrowski|Łęcki"),
    ),
    _Locale(
        "ru_RU",
        "RU",
        4,
        _pairs(
            "Алексей:aleksey Дмитрий:dmitry Наталья:natalya Ольга:olga Сергей:sergey Екатерина:ekaterina "
            "Иван:ivan Мария:maria Юлия:yulia Андрей:andrey Татьяна:tatiana Михаил:mikhail"
        ),
        _pairs(
            "Иванов:ivanov Смирнов:smirnov Кузнецов:kuznetsov Попов:popov Соколов:sokolov Лебедев:lebedev "
            "Козлов:kozlov Новиков:novikov Морозов:morozov Волков:volkov"
        ),
        latin_share=0.3,
        female_suffix=True,
    ),
    _Locale(
        "el_GR",
        "GR",
        2,
        _pairs(
            "Γιώργος:giorgos Μαρία:maria Δημήτρης:dimitris Ελένη:eleni Νίκος:nikos Κατερίνα:katerina "
            "Γιάννης:giannis Σοφία:sofia"
        ),
        _pairs(
            "Παπαδόπουλος:papadopoulos Οικονόμου:oikonomou Γεωργίου:georgiou Νικολάου:nikolaou "
            "Βασιλείου:vasileiou Αθανασίου:athanasiou"
        ),
        latin_share=0.3,
    ),
    _Locale(
        "zh_CN",
        "CN",
        5,
        _pairs("伟:wei 芳:fang 娜:na 秀英:xiuying 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong"),
        _pairs("王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou"),
        order="eastern",
        latin_share=0.35,
    ),
    _Locale(
        "ja_JP",
        "JP",
        4,
        _pairs("太郎:taro 花子:hanako 翔太:shota さくら:sakura 健:ken 美咲:misaki 大輔:daisuke 陽菜:hina"),
        _pairs("佐藤:sato 鈴木:suzuki 高橋:takahashi 田中:tanaka 渡辺:watanabe 伊藤:ito 山本:yamamoto 中村:nakamura"),
        order="eastern_spaced",
        latin_share=0.3,
    ),
    _Locale(
        "ko_KR",
        "KR",
        3,
        _pairs("민준:minjun 서연:seoyeon 지훈:jihoon 지우:jiwoo 현우:hyunwoo 하은:haeun"),
        _pairs("김:kim 이:lee 박:park 최:choi 정:jung 강:kang"),
        order="eastern",
        latin_share=0.35,
    ),
    _Locale(
        "ar_AE",
        "AE",
        3,
        _pairs(
            "محمد:mohammed أحمد:ahmed فاطمة:fatima عائشة:aisha علي:ali مريم:mariam خالد:khaled نور:noor "
            "يوسف:youssef ليلى:layla"
        ),
        _pairs(
            "العلي:alali حسن:hassan إبراهيم:ibrahim الحسيني:alhusseini المنصوري:almansouri الشامسي:alshamsi "
            "عبدالله:abdullah"
        ),
        latin_share=0.4,
    ),
    _Locale(
        "he_IL",
        "IL",
        2,
        _pairs("נועה:noa דוד:david יעל:yael אורי:uri מיכל:michal איתי:itai תמר:tamar יוסף:yosef"),
        _pairs("כהן:cohen לוי:levi מזרחי:mizrahi פרץ:peretz ביטון:biton אברהם:avraham פרידמן:friedman"),
        latin_share=0.4,
    ),
    _Locale(
        "hi_IN",
        "IN",
        8,
        _pairs(
            "आरव:aarav अनन्या:ananya विहान:vihaan प्रिया:priya अर्जुन:arjun दिव्या:divya राहुल:rahul नेहा:neha "
            "रोहन:rohan पूजा:pooja"
        ),
        _pairs("शर्मा:sharma वर्मा:verma पटेल:patel गुप्ता:gupta सिंह:singh कुमार:kumar मेहता:mehta जोशी:joshi"),
        latin_share=0.6,
    ),
)

_LOCALE_WEIGHTS = [locale.weight for locale in _LOCALES]

# Female first names of the Russian locale (their surnames take -a).
_RU_FEMALE = {"Наталья", "Ольга", "Екатерина", "Мария", "Юлия", "Татьяна"}

_DOMAINS = (
    "example.com",
    "example.com",
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "post.example.org",
    "inbox.example.net",
    "corp.example.com",
    "shop.example.net",
)

COMPANIES = (
    "Acme Pty Ltd",
    "Globex Corporation",
    "Initech",
    "Umbrella Logistics",
    "Müller & Söhne GmbH",
    "Société Générale d'Exemple",
    "Pérez y Asociados S.L.",
    "株式会社山田商事",
    "北京示例科技有限公司",
    "ООО «Пример»",  # noqa: RUF001
    "Δείγμα Α.Ε.",  # noqa: RUF001
    'שירותי דוגמה בע"מ',
    "شركة المثال للتجارة",
    "उदाहरण प्राइवेट लिमिटेड",
    "Bright Horizons Consulting",
    "Blue Gum Analytics",
    "Kiwi & Co.",
    "O'Reilly Hardware",
    "Northwind Traders",
    "Contoso Ltd",
    "Fabrikam, Inc.",
    "Tailspin Toys",
    "Wide World Importers",
    "Łódź Software Sp. z o.o.",
    "",
)

JOB_TITLES = (
    "Marketing Manager",
    "Head of Growth",
    "CRM Specialist",
    "Software Engineer",
    "Sales Director",
    "Office Manager",
    "Founder & CEO",
    "Customer Success Lead",
    "Chef de projet",
    "Geschäftsführerin",
    "Jefe de ventas",
    "Student",
    "Nurse",
    "Teacher",
    "Retired",
    "",
)


# ------------------------------------------------------------------------------------------ romanising

_TRANSLIT = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
    }
)


def ascii_fold(text: str) -> str:
    """Letters only, lower-case ASCII: "Müller-Lüdenscheidt" -> "muellerluedenscheidt", "D'Angelo" -> "dangelo"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


# --------------------------------------------------------------------------------------------- mobiles


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _mobile_us(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(("212", "312", "415", "646", "718", "206", "303", "512", "617", "702"))
    exchange = str(rng.randint(2, 9)) + _digits(rng, 2)
    line = _digits(rng, 4)
    local = rng.choice(
        (
            f"({area}) {exchange}-{line}",
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area}{exchange}{line}",
            f"+1 {area} {exchange} {line}",
        )
    )
    return local, f"+1{area}{exchange}{line}"


def _mobile_au(rng: random.Random) -> tuple[str, str]:
    rest = rng.choice(("0", "1", "2", "3", "8", "9")) + _digits(rng, 7)
    national = "4" + rest
    local = rng.choice(
        (
            f"04{rest[:2]} {rest[2:5]} {rest[5:]}",
            f"04{rest[:2]} {rest[2:5]} {rest[5:]}",
            f"04{rest}",
            f"+61 4{rest[:2]} {rest[2:5]} {rest[5:]}",
        )
    )
    return local, f"+61{national}"


def _mobile_gb(rng: random.Random) -> tuple[str, str]:
    national = "7" + rng.choice(("4", "5", "8")) + _digits(rng, 8)
    local = rng.choice(
        (
            f"0{national[:4]} {national[4:]}",
            f"0{national[:4]} {national[4:]}",
            f"0{national}",
            f"0{national[:4]} {national[4:7]} {national[7:]}",
            f"+44 {national[:4]} {national[4:]}",
        )
    )
    return local, f"+44{national}"


def _mobile_simple(
    cc: str, trunk: str, lead: Callable[[random.Random], str], total: int, groups: tuple[int, ...], sep: str = " "
) -> Callable[[random.Random], tuple[str, str]]:
    """A country whose mobiles are `trunk` + national number, typed in digit groups."""

    def make(rng: random.Random) -> tuple[str, str]:
        national = lead(rng)
        national += _digits(rng, total - len(national))
        typed = trunk + national
        parts, start = [], 0
        for size in groups:
            parts.append(typed[start : start + size])
            start += size
        if start < len(typed):
            parts.append(typed[start:])
        local = sep.join(parts) if rng.random() < 0.8 else typed
        return local, f"+{cc}{national}"

    return make


def _mobile_br(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(("11", "21", "31", "41", "51", "61", "71", "81"))
    number = "9" + _digits(rng, 8)
    local = rng.choice((f"({area}) {number[:5]}-{number[5:]}", f"{area} {number}", f"({area}){number}"))
    return local, f"+55{area}{number}"


def _mobile_ru(rng: random.Random) -> tuple[str, str]:
    national = "9" + _digits(rng, 9)
    local = rng.choice(
        (
            f"8 ({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}",
            f"8{national}",
            f"+7 {national[:3]} {national[3:6]}-{national[6:8]}-{national[8:]}",
        )
    )
    return local, f"+7{national}"


def _mobile_dashed(
    cc: str, prefixes: tuple[str, ...], rest: int, cut: int
) -> Callable[[random.Random], tuple[str, str]]:
    """Japan, Korea, Israel: 0NN-NNNN-NNNN style (N a digit)."""

    def make(rng: random.Random) -> tuple[str, str]:
        prefix = rng.choice(prefixes)
        tail = str(rng.randint(2, 9)) + _digits(rng, rest - 1)
        local = f"0{prefix}-{tail[:cut]}-{tail[cut:]}" if rng.random() < 0.8 else f"0{prefix}{tail}"
        return local, f"+{cc}{prefix}{tail}"

    return make


_MOBILES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "US": _mobile_us,
    "AU": _mobile_au,
    "GB": _mobile_gb,
    "DE": _mobile_simple("49", "0", lambda r: r.choice(("151", "152", "160", "162", "170", "171", "176")), 11, (4,)),
    "FR": _mobile_simple(
        "33",
        "0",
        lambda r: r.choice(("61", "62", "63", "64", "65", "66", "67", "68", "75", "76", "77", "78")),
        9,
        (2, 2, 2, 2),
    ),
    "ES": _mobile_simple("34", "", lambda r: r.choice(("6", "6", "6", "71", "72", "73", "74")), 9, (3, 2, 2)),
    "MX": _mobile_simple("52", "", lambda r: r.choice(("55", "33", "81")), 10, (2, 4)),
    "BR": _mobile_br,
    "IT": _mobile_simple("39", "", lambda r: r.choice(("31", "32", "33", "34", "38")), 10, (3, 3)),
    "PL": _mobile_simple("48", "", lambda r: r.choice(("5", "6", "72", "78")), 9, (3, 3)),
    "RU": _mobile_ru,
    "GR": _mobile_simple("30", "", lambda r: r.choice(("690", "693", "694", "697", "698", "699")), 10, (3, 3)),
    "CN": _mobile_simple("86", "", lambda r: r.choice(("138", "139", "135", "150", "186", "188")), 11, (3, 4)),
    "JP": _mobile_dashed("81", ("90", "80", "70"), 8, 4),
    "KR": _mobile_dashed("82", ("10",), 8, 4),
    "AE": _mobile_simple("971", "0", lambda r: r.choice(("50", "52", "54", "55", "56", "58")), 9, (3, 3)),
    "IL": _mobile_dashed("972", ("50", "52", "53", "54", "58"), 7, 3),
    "IN": _mobile_simple("91", "", lambda r: str(r.randint(6, 9)), 10, (5,)),
}

# What people type in a phone field that is not a mobile number at all.
_JUNK_PHONES = ("555-1234", "n/a", "-", "0", "ask reception", "12345", "ext. 204", "tbc")


def make_mobile(rng: random.Random, country_code: str) -> tuple[str, str]:
    """(as typed, E.164): about one in five has no number, a few have junk without an E.164 form."""
    roll = rng.random()
    if roll < 0.2:
        return "", ""
    if roll < 0.24:
        return rng.choice(_JUNK_PHONES), ""
    return _MOBILES[country_code](rng)


# ---------------------------------------------------------------------------------------------- people


def _typed_case(rng: random.Random, address: str) -> str:
    """The capitals a person types: mostly none, sometimes "Ana.Lopez@Example.com", rarely shouting."""
    roll = rng.random()
    if roll < 0.84:
        return address
    if roll < 0.95:
        return capitalised(address)
    if roll < 0.96:
        return address.upper()
    local, _, domain = address.partition("@")
    return f"{local}@{domain.upper()}" if rng.random() < 0.5 else f"{local.capitalize()}@{domain}"


def capitalised(address: str) -> str:
    """ "ana.lopez@example.com" -> "Ana.Lopez@Example.com"."""
    local, _, domain = address.partition("@")
    local = ".".join("_".join(part.capitalize() for part in piece.split("_")) for piece in local.split("."))
    return f"{local}@{domain[:1].upper()}{domain[1:]}"


def _local_part(rng: random.Random, first: str, last: str) -> str:
    first = first or "user"
    last = last or "mail"
    number = str(rng.randint(1, 99))
    pattern = rng.random()
    if pattern < 0.35:
        return f"{first}.{last}"
    if pattern < 0.5:
        return f"{first}{last}"
    if pattern < 0.6:
        return f"{first[0]}{last}"
    if pattern < 0.67:
        return f"{first}_{last}"
    if pattern < 0.77:
        return f"{first}.{last}{number}"
    if pattern < 0.83:
        return f"{last}.{first}"
    if pattern < 0.92:
        return f"{first}{number}"
    return f"{first}.{last}+news"


def make_person(
    rng: random.Random, taken: set[str], locale_index: int | None = None, native: bool | None = None
) -> Person:
    """One new person whose lower-case e-mail is not in `taken` (and is added to it)."""
    locale = _LOCALES[locale_index] if locale_index is not None else rng.choices(_LOCALES, _LOCALE_WEIGHTS)[0]
    first, first_roman = rng.choice(locale.first)
    last, last_roman = rng.choice(locale.last)
    if locale.female_suffix and first in _RU_FEMALE and last.endswith(("ов", "ев", "ин")):
        last, last_roman = last + "а", last_roman + "a"  # noqa: RUF001
    if native is None:
        native = rng.random() >= locale.latin_share
    if not native:  # typed in Latin letters
        first, last = first_roman.capitalize(), last_roman.capitalize()
    if locale.order == "eastern" and native:
        name = f"{last}{first}"
    elif locale.order == "eastern_spaced" and native:
        name = f"{last} {first}"
    else:
        name = f"{first} {last}"
    mess = rng.random()
    if mess < 0.02:
        first, last, name = first.lower(), last.lower(), name.lower()
    elif mess < 0.03:
        first, last, name = first.upper(), last.upper(), name.upper()
    base = _local_part(rng, ascii_fold(first_roman), ascii_fold(last_roman))
    domain = rng.choice(_DOMAINS)
    address = f"{base}@{domain}"
    while address in taken:
        address = f"{base}{rng.randint(2, 999)}@{domain}"
    taken.add(address)
    country = locale.country
    cities = [city for city in CITIES if city.country_code == country]
    city = rng.choice(cities) if cities and rng.random() < 0.9 else rng.choice(CITIES)
    mobile_local, mobile_e164 = make_mobile(rng, country)
    birthday = ""
    if rng.random() < 0.6:
        birthday = (date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))).isoformat()
    return Person(
        email=_typed_case(rng, address),
        first_name=first,
        last_name=last,
        mobile_local=mobile_local,
        mobile_e164=mobile_e164,
        country_code=country,
        name=name,
        locale=locale.code,
        city=city.name,
        company=rng.choice(COMPANIES),
        job_title=rng.choice(JOB_TITLES),
        birthday=birthday,
    )


def generate_people(size: str, seed: int) -> list[Person]:
    """The population of a sandbox of this size: deterministic in (size, seed), unique by lower-case e-mail.

    The first people cover every locale in its own script, so that even the tiny sandbox has them all.
    """
    if size not in POPULATION:
        raise ValueError(f"unknown size {size!r}: one of {', '.join(SIZES)}")
    rng = random.Random(f"cmsf-people:{seed}")
    taken: set[str] = set()
    people = [make_person(rng, taken, locale_index=index, native=True) for index in range(len(_LOCALES))]
    people.extend(make_person(rng, taken) for _ in range(POPULATION[size] - len(people)))
    return people
