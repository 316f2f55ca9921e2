"""US postal addresses: USPS abbreviations, units split out of the street, ZIP codes."""

from __future__ import annotations

import functools
import re

from reconcile.normalise._text import as_text, fold

__all__ = ["DIRECTIONALS", "STREET_TYPES", "UNIT_DESIGNATORS", "address", "postal_code", "street", "unit"]

# USPS Publication 28, appendix C1: street suffix (and its common spellings)
# -> the standard abbreviation.
_TYPES: dict[str, tuple[str, ...]] = {
    "aly": ("alley", "allee", "ally"),
    "anx": ("annex", "anex", "annx"),
    "arc": ("arcade",),
    "ave": ("avenue", "av", "aven", "avenu", "avn", "avnue"),
    "byu": ("bayou", "bayoo"),
    "bch": ("beach",),
    "bnd": ("bend",),
    "blf": ("bluff", "bluf"),
    "blfs": ("bluffs",),
    "btm": ("bottom", "bot", "bottm"),
    "blvd": ("boulevard", "boul", "boulv"),
    "br": ("branch", "brnch"),
    "brg": ("bridge", "brdge"),
    "brk": ("brook",),
    "brks": ("brooks",),
    "byp": ("bypass", "bypa", "bypas", "byps"),
    "cp": ("camp", "cmp"),
    "cyn": ("canyon", "canyn", "cnyn"),
    "cpe": ("cape",),
    "cswy": ("causeway", "causwa"),
    "ctr": ("center", "cen", "cent", "centr", "centre", "cnter", "cntr"),
    "ctrs": ("centers",),
    "cir": ("circle", "circ", "circl", "crcl", "crcle"),
    "cirs": ("circles",),
    "clf": ("cliff",),
    "clfs": ("cliffs",),
    "clb": ("club",),
    "cmn": ("common",),
    "cmns": ("commons",),
    "cor": ("corner",),
    "cors": ("corners",),
    "crse": ("course",),
    "ct": ("court",),
    "cts": ("courts",),
    "cv": ("cove",),
    "cvs": ("coves",),
    "crk": ("creek",),
    "cres": ("crescent", "crsent", "crsnt"),
    "crst": ("crest",),
    "xing": ("crossing", "crssng"),
    "xrd": ("crossroad",),
    "curv": ("curve",),
    "dl": ("dale",),
    "dm": ("dam",),
    "dv": ("divide", "div", "dvd"),
    "dr": ("drive", "driv", "drv"),
    "drs": ("drives",),
    "est": ("estate",),
    "ests": ("estates",),
    "expy": ("expressway", "exp", "expr", "express", "expw"),
    "ext": ("extension", "extn", "extnsn"),
    "fls": ("falls",),
    "fry": ("ferry", "frry"),
    "fld": ("field",),
    "flds": ("fields",),
    "flt": ("flat",),
    "flts": ("flats",),
    "frd": ("ford",),
    "frst": ("forest", "forests"),
    "frg": ("forge", "forg"),
    "frk": ("fork",),
    "frks": ("forks",),
    "ft": ("fort", "frt"),
    "fwy": ("freeway", "freewy", "frway", "frwy"),
    "gdn": ("garden", "gardn", "grden", "grdn"),
    "gdns": ("gardens", "grdns"),
    "gtwy": ("gateway", "gatewy", "gatway", "gtway"),
    "gln": ("glen",),
    "grn": ("green",),
    "grv": ("grove", "grov"),
    "hbr": ("harbor", "harb", "harbr", "hrbor"),
    "hvn": ("haven",),
    "hts": ("heights", "ht"),
    "hwy": ("highway", "highwy", "hiway", "hiwy", "hway"),
    "hl": ("hill",),
    "hls": ("hills",),
    "holw": ("hollow", "hllw", "hollows", "holws"),
    "inlt": ("inlet",),
    "is": ("island", "islnd"),
    "iss": ("islands", "islnds"),
    "jct": ("junction", "jction", "jctn", "junctn", "juncton"),
    "ky": ("key",),
    "kys": ("keys",),
    "knl": ("knoll", "knol"),
    "lk": ("lake",),
    "lks": ("lakes",),
    "lndg": ("landing", "lndng"),
    "ln": ("lane",),
    "lgt": ("light",),
    "ldg": ("lodge", "ldge", "lodg"),
    "mnr": ("manor",),
    "mdw": ("meadow",),
    "mdws": ("meadows", "medows"),
    "ml": ("mill",),
    "mls": ("mills",),
    "msn": ("mission", "missn", "mssn"),
    "mtwy": ("motorway",),
    "mt": ("mount", "mnt"),
    "mtn": ("mountain", "mntain", "mntn", "mountin", "mtin"),
    "orch": ("orchard", "orchrd"),
    "ovl": ("oval",),
    "opas": ("overpass",),
    "park": ("prk", "parks"),
    "pkwy": ("parkway", "parkwy", "pkway", "pky", "parkways", "pkwys"),
    "psge": ("passage",),
    "path": ("paths",),
    "pike": ("pikes",),
    "pne": ("pine",),
    "pnes": ("pines",),
    "pl": ("place",),
    "pln": ("plain",),
    "plns": ("plains",),
    "plz": ("plaza", "plza"),
    "pt": ("point",),
    "pts": ("points",),
    "prt": ("port",),
    "prts": ("ports",),
    "pr": ("prairie", "prr"),
    "radl": ("radial", "rad", "radiel"),
    "rnch": ("ranch", "ranches", "rnchs"),
    "rpd": ("rapid",),
    "rpds": ("rapids",),
    "rst": ("rest",),
    "rdg": ("ridge", "rdge"),
    "rdgs": ("ridges",),
    "riv": ("river", "rvr", "rivr"),
    "rd": ("road",),
    "rds": ("roads",),
    "rte": ("route",),
    "shl": ("shoal",),
    "shls": ("shoals",),
    "shr": ("shore", "shoar"),
    "shrs": ("shores", "shoars"),
    "skwy": ("skyway",),
    "spg": ("spring", "spng", "sprng"),
    "spgs": ("springs", "spngs", "sprngs"),
    "spur": ("spurs",),
    "sq": ("square", "sqr", "sqre", "squ"),
    "sqs": ("squares", "sqrs"),
    "sta": ("station", "statn", "stn"),
    "stra": ("stravenue", "strav", "straven", "stravn", "strvn", "strvnue"),
    "strm": ("stream", "streme"),
    "st": ("street", "str", "strt"),
    "sts": ("streets",),
    "smt": ("summit", "sumit", "sumitt"),
    "ter": ("terrace", "terr"),
    "trwy": ("throughway",),
    "trce": ("trace", "traces"),
    "trak": ("track", "tracks", "trk", "trks"),
    "trfy": ("trafficway",),
    "trl": ("trail", "trails", "trls"),
    "tunl": ("tunnel", "tunel", "tunls", "tunnels", "tunnl"),
    "tpke": ("turnpike", "trnpk", "turnpk"),
    "upas": ("underpass",),
    "un": ("union",),
    "vly": ("valley", "vally", "vlly"),
    "vlys": ("valleys",),
    "via": ("viaduct", "vdct", "viadct"),
    "vw": ("view",),
    "vws": ("views",),
    "vlg": ("village", "vill", "villag", "villg", "villiage"),
    "vlgs": ("villages",),
    "vl": ("ville",),
    "vis": ("vista", "vist", "vst", "vsta"),
    "walk": ("walks",),
    "way": ("wy",),
    "wl": ("well",),
    "wls": ("wells",),
    "loop": ("loops",),
    "mall": (),
    "pass": (),
    "ramp": (),
    "row": (),
    "rue": (),
    "run": (),
    "wall": (),
}
#: Street type word (full, abbreviated or a common misspelling) -> USPS abbreviation.
STREET_TYPES: dict[str, str] = {
    **{abbr: abbr for abbr in _TYPES},
    **{word: abbr for abbr, words in _TYPES.items() for word in words},
}
#: Directional word -> USPS abbreviation.
DIRECTIONALS: dict[str, str] = {
    "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "n": "n", "s": "s", "e": "e", "w": "w", "ne": "ne", "nw": "nw", "se": "se", "sw": "sw",
}
_SPELLED_DIRECTION = {"n": "north", "s": "south", "e": "east", "w": "west",
                      "ne": "northeast", "nw": "northwest", "se": "southeast", "sw": "southwest"}
# Words written more than one way: ordinals ("First Ave" is "1st Ave"), Saint, Mount, Fort.
_SAME_WORDS = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
    "eleventh": "11th", "twelfth": "12th", "saint": "st", "mount": "mt", "fort": "ft",
}

#: Unit designators that take an identifier ("APT 4B") -> USPS abbreviation.
#: Those marked weak only count in a street line when the identifier has a digit
#: ("Lot 7" but not "Lot Rd").
UNIT_DESIGNATORS: dict[str, str] = {
    "apt": "apt", "apartment": "apt", "unit": "unit", "ste": "ste", "suite": "ste", "#": "#",
    "no": "#", "number": "#", "num": "#", "rm": "rm", "room": "rm", "fl": "fl", "floor": "fl",
    "bldg": "bldg", "building": "bldg", "lot": "lot", "spc": "spc", "space": "spc",
    "trlr": "trlr", "trailer": "trlr", "dept": "dept", "department": "dept", "ofc": "ofc",
    "office": "ofc", "hngr": "hngr", "hangar": "hngr", "pier": "pier", "slip": "slip",
}
_WEAK = frozenset(UNIT_DESIGNATORS) - {"apt", "apartment", "unit", "ste", "suite", "#"}
# Designators that are the whole unit ("REAR").
_BARE_UNITS = {
    "rear": "rear", "bsmt": "bsmt", "basement": "bsmt", "frnt": "frnt", "front": "frnt",
    "lowr": "lowr", "lower": "lowr", "uppr": "uppr", "upper": "uppr", "ph": "ph",
    "penthouse": "ph", "lbby": "lbby", "lobby": "lbby", "side": "side",
}
_GLUED = re.compile(r"^(apt|ste|unit|suite|apartment|rm|bldg|fl|no)(\d[a-z0-9-]*)$")

_DROPPED = re.compile(r"['\u2019`.]")
_NOT_WORD = re.compile(r"[^a-z0-9#/\s-]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_ALNUM_ANY_CASE = re.compile(r"[^0-9A-Za-z]+")
_FRACTION = re.compile(r"\d+/\d+")
_US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


def _tokens(text: str) -> list[str]:
    cleaned = _NOT_WORD.sub(" ", _DROPPED.sub("", fold(text))).replace("#", " # ")
    out: list[str] = []
    for token in cleaned.split():
        token = token.strip("-/")
        if not token:
            continue
        token = _SAME_WORDS.get(token, token)
        glued = _GLUED.match(token)
        out.extend(glued.groups() if glued else (token,))
    return out


def _identifier(words: list[str]) -> str:
    return _NOT_ALNUM.sub("", "".join(words))


def _unit_parts(tokens: list[str]) -> list[str]:
    """Unit identifiers from a unit's tokens.

    After a designator the words up to the next one are one identifier
    ("APT 4 B" is "4b"); words before any designator are one each ("10 200").
    """
    parts: list[str] = []
    current: list[str] | None = None
    for token in tokens:
        if token in UNIT_DESIGNATORS:
            if current:
                parts.append(_identifier(current))
            current = []
        elif token in _BARE_UNITS and not current:
            parts.append(_BARE_UNITS[token])
        elif current is None:
            parts.append(_identifier([token]))
        else:
            current.append(token)
    if current:
        parts.append(_identifier(current))
    # An identifier that spells a designator ("APT STE") says nothing.
    return [p for p in parts if p and p not in UNIT_DESIGNATORS]


def _unit_text(parts: list[str]) -> str | None:
    """The unit as text: its identifiers once each, read again until nothing changes.

    Joining an identifier's words can spell something that reads differently
    ("APT STE 1" gives "ste1", which is "STE 1"); reading until stable keeps
    the normaliser idempotent.
    """
    text = " ".join(dict.fromkeys(parts))
    for _ in range(8):
        again = " ".join(dict.fromkeys(_unit_parts(_tokens(text))))
        if again == text:
            break
        text = again
    return text or None


def _designator_at(tokens: list[str]) -> int | None:
    """Where a unit begins in a street line, if a designator says so."""
    for i, token in enumerate(tokens):
        if i == 0:
            continue
        if token == "#":
            return i
        if i < 2:
            continue
        rest = tokens[i + 1 :]
        if token in _BARE_UNITS:
            after = next((t for t in rest if t not in _BARE_UNITS), None)
            if after is None or after in UNIT_DESIGNATORS:
                return i
        if token not in UNIT_DESIGNATORS or not rest:
            continue
        if token in _WEAK and not _has_digit(rest[0]):
            continue
        return i
    return None


def _looks_like_unit(token: str) -> bool:
    if token in DIRECTIONALS or token in STREET_TYPES:
        return False
    if token in _BARE_UNITS or token in UNIT_DESIGNATORS:
        return True
    return _has_digit(token) or (len(token) == 1 and token.isalpha())


def _trailing_occupancy(tokens: list[str]) -> int | None:
    """Where an undesignated unit ("12 Main St 4B") begins, as ``usaddress`` reads the line."""
    if len(tokens) < 3 or not _has_digit(tokens[0]) or not _looks_like_unit(tokens[-1]):
        return None
    import usaddress

    try:
        parsed = usaddress.parse(" ".join(tokens))
    except Exception:  # a line usaddress cannot read keeps its unit in the street
        return None
    if [token for token, _ in parsed] != tokens:
        return None
    start = len(tokens)
    while start > 1 and parsed[start - 1][1] in ("OccupancyIdentifier", "SubaddressIdentifier"):
        start -= 1
    if start == len(tokens) or start < 2 or _looks_like_unit(tokens[start - 1]):
        return None
    return start


_BOXES = (["post", "office", "box"], ["p", "o", "box"], ["po", "box"], ["pob"], ["box"])
_ROUTES = (["rural", "route"], ["rural", "rte"], ["rr"], ["rfd"])
_BOX_STARTS = frozenset(prefix[0] for prefix in (*_BOXES, *_ROUTES))
_DIGIT = re.compile(r"[0-9]")


def _has_digit(token: str) -> bool:
    """``any(c.isdigit() for c in token)``; tokens are ASCII, where that is a search for 0-9."""
    if token.isascii():
        return _DIGIT.search(token) is not None
    return any(c.isdigit() for c in token)


def _box(tokens: list[str]) -> str | None:
    """PO boxes and rural routes in one spelling ("po box 12", "rr 2 box 10")."""
    if not tokens or tokens[0] not in _BOX_STARTS:  # no prefix can match: the usual street line
        return None
    for prefixes, lead in ((_BOXES, ["po", "box"]), (_ROUTES, ["rr"])):
        for prefix in prefixes:
            rest = tokens[len(prefix) :]
            if tokens[: len(prefix)] != prefix or not rest or not _has_digit(rest[0]):
                continue
            if any(w in UNIT_DESIGNATORS or w in _BARE_UNITS for w in rest):
                return None
            return " ".join([*lead, *("box" if w == "bx" else w for w in rest)])
    return None


def _canonical_words(tokens: list[str]) -> list[str]:
    if not tokens:
        return []
    box = _box(tokens)
    if box is not None:
        return box.split()
    number: list[str] = []
    rest = list(tokens)
    if _has_digit(rest[0]):
        number.append(rest.pop(0))
        if rest and _FRACTION.fullmatch(rest[0]):
            number.append(rest.pop(0))
    post_dir = post_type = pre_dir = None
    if len(rest) >= 2 and rest[-1] in DIRECTIONALS:
        post_dir = DIRECTIONALS[rest.pop()]
    if len(rest) >= 2 and rest[-1] in STREET_TYPES:
        post_type = STREET_TYPES[rest.pop()]
    if len(rest) >= 2 and rest[0] in DIRECTIONALS:
        pre_dir = DIRECTIONALS[rest.pop(0)]
    if post_type is None and len(rest) >= 2:
        # "Highway 101", "County Road 5", "Avenue of the Americas": types before the name.
        rest = [STREET_TYPES.get(w, w) for w in rest[:-1]] + rest[-1:]
    if len(rest) == 1 and rest[0] in _SPELLED_DIRECTION:
        # A directional that is the street's name is spelled out ("N St" is "North St").
        rest = [_SPELLED_DIRECTION[rest[0]]]
    return [*number, *(w for w in (pre_dir,) if w), *rest, *(w for w in (post_type, post_dir) if w)]


def _split(street_text: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The canonical street line and the unit identifiers it held.

    A line that begins with a house number and a space ("9804 MONROE LN") is
    read as the rest of the line behind a stand-in number, once per distinct
    rest (:func:`_numbered_rest`): nearly every line has this shape, and the
    rests recur far more than whole lines do. Otherwise (and where usaddress
    would be asked, whose reading depends on the number) :func:`_split_line`.
    """
    if street_text is None:
        return None, ()
    numbered = _NUMBERED.match(street_text)
    if numbered is not None:
        template = _numbered_rest(street_text[numbered.end() :])
        if template is not None:
            number = numbered[1]
            rest, parts = template
            return (number + rest if rest else number), parts
    return _split_line(street_text)


# A house number (ASCII digits) and one space: the number is the line's first
# token whatever follows, and it changes nothing else (see _numbered_rest).
_NUMBERED = re.compile(r"([0-9]+) ")


@functools.lru_cache(maxsize=1 << 18)
def _numbered_rest(rest: str) -> tuple[str, tuple[str, ...]] | None:
    """:func:`_split_line` of ``"<number> " + rest`` without the number: what follows it, and the units.

    The number's digits play no part in reading the line: they become the
    first token (folding, cleaning and splitting never join them to the rest,
    as a space follows), no designator is looked for at the first token, a
    PO box or rural route cannot begin with digits, and the canonical words
    begin with the number unchanged. The one exception is usaddress (asked
    when the canonical words end in something unit-like), whose reading may
    depend on the number: None then, and the whole line is read.

    Returns:
        The canonical words after the number, each preceded by a space (``""``
        if none), and the unit identifiers the line held; or None.
    """
    tokens = _tokens("1 " + rest)
    parts: list[str] = []
    at = _designator_at(tokens)
    if at is not None:
        tokens, parts = tokens[:at], _unit_parts(tokens[at:])
    words = _canonical_words(tokens)
    if words[:1] != ["1"] or (len(words) >= 3 and _looks_like_unit(words[-1])):
        return None  # not led by the number (never so), or _trailing_occupancy would ask usaddress
    return " ".join(words)[1:], tuple(parts)


@functools.lru_cache(maxsize=1 << 16)
def _split_line(street_text: str) -> tuple[str | None, tuple[str, ...]]:
    """:func:`_split` of any line: the general path.

    Cached: the same line recurs across tables (and systems).
    """
    tokens = _tokens(street_text)
    parts: list[str] = []
    at = _designator_at(tokens)
    if at is not None:
        tokens, parts = tokens[:at], _unit_parts(tokens[at:])
    words = _canonical_words(tokens)
    # Ask usaddress about the canonical words, so a normalised street reads the same again.
    trailing = _trailing_occupancy(words)
    if trailing is not None:
        kept = _canonical_words(words[:trailing])
        if kept and not _looks_like_unit(kept[-1]):
            parts = _unit_parts(words[trailing:]) + parts
            words = kept
    return " ".join(words) or None, tuple(parts)


def street(value: object) -> str | None:
    """The street line in USPS abbreviations, without any unit it embeds.

    Examples:
        >>> street("123 North Maple Street Apt 4B")
        '123 n maple st'
    """
    return _split(as_text(value))[0]


def unit(value: object) -> str | None:
    """The unit identifier alone: ``"APT 4B"``, ``"Apartment 4-B"`` and ``"#4B"`` are ``"4b"``."""
    text = as_text(value)
    if text is None:
        return None
    return _unit_text(_unit_parts(_tokens(text)))


def postal_code(value: object, region: str = "US") -> str | None:
    """A postal code: the 5-digit ZIP in the US (ZIP+4 cut, lost leading zeros restored).

    Elsewhere (or when a US value is not a ZIP code) the code is upper-cased
    without spaces or punctuation.

    Examples:
        >>> postal_code("98101-1234")
        '98101'
        >>> postal_code(2108)
        '02108'
        >>> postal_code("sw1a 1aa", "GB")
        'SW1A1AA'
    """
    text = as_text(value)
    if text is None:
        return None
    compact = _NOT_ALNUM_ANY_CASE.sub("", text).upper()
    if region.upper() in _US_REGIONS and compact.isdigit():
        # Digits only (with spaces or dashes between): a ZIP, ZIP+4, or a ZIP
        # that lost its leading zeros. The rule depends on the digits alone,
        # so normalising its own output changes nothing.
        digits = compact
        if 5 <= len(digits) <= 9:
            return digits[:5]
        if 3 <= len(digits) <= 4:
            return digits.zfill(5)
    return compact or None


def address(
    street: object = None, unit: object = None, postal: object = None, region: str = "US"
) -> tuple[str | None, str | None, str | None]:
    """Normalise an address to ``(street, unit, postal)``.

    The street gets USPS abbreviations for street types (Street -> st,
    Avenue -> ave...) and directionals (North -> n); a unit written into the
    street line (``"APT 4B"``, ``"#4B"``, ``"Suite 200"``, and with
    ``usaddress``'s help an undesignated ``"12 Main St 4B"``) moves to the
    unit, which keeps the identifier only. The unit field and a unit found in
    the street are combined (once each). The postal code is read as in
    :func:`postal_code`.

    Examples:
        >>> address("123 N. Maple St. #4B", None, "98101-1234")
        ('123 n maple st', '4b', '98101')
        >>> address("123 North Maple Street", "Apartment 4B", "98101")
        ('123 n maple st', '4b', '98101')
    """
    street_out, split_parts = _split(as_text(street))
    parts = list(split_parts)
    unit_text = as_text(unit)
    if unit_text is not None:
        parts = parts + _unit_parts(_tokens(unit_text))
    return street_out, _unit_text(parts), postal_code(postal, region)
