"""Word lists and code tables the demo world is drawn from.

Everything here is fixed data: the generator's randomness comes only from its
``random.Random(seed)``, so the same seed and size give the same world.
"""

from __future__ import annotations

# Given names. The formal names that have a common nickname come first; the
# nickname tables below refer to them.
GIVEN_MALE: tuple[str, ...] = (
    "Robert", "William", "James", "Michael", "Thomas", "David", "Joseph", "Daniel",
    "Richard", "Anthony", "Charles", "Matthew", "Andrew", "Gregory", "Jeffrey",
    "Kenneth", "Timothy", "Nicholas", "Benjamin", "Joshua", "Edward", "Lawrence",
    "Stephen", "Peter", "Raymond", "Douglas", "Walter", "John", "Mark", "Paul",
    "Kevin", "Brian", "George", "Ronald", "Jason", "Ryan", "Eric", "Scott", "Frank",
    "Dennis", "Tyler", "Aaron", "Henry", "Adam", "Nathan", "Kyle", "Harold", "Carl",
    "Arthur", "Roger", "Keith", "Jeremy", "Sean", "Austin", "Jesse", "Ethan",
    "Dylan", "Bruce", "Bryan", "Gabriel", "Logan", "Wayne", "Ralph", "Eugene",
    "Louis", "Philip", "Marcus", "Victor", "Hector", "Luis", "Carlos", "Oscar",
    "Trevor", "Calvin", "Dustin", "Grant", "Howard", "Vincent", "Wesley", "Troy",
)
GIVEN_FEMALE: tuple[str, ...] = (
    "Elizabeth", "Jennifer", "Susan", "Rebecca", "Cynthia", "Pamela", "Abigail",
    "Samantha", "Victoria", "Jacqueline", "Mary", "Patricia", "Linda", "Barbara",
    "Jessica", "Sarah", "Karen", "Nancy", "Lisa", "Sandra", "Ashley", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Laura", "Sharon", "Amy",
    "Angela", "Helen", "Anna", "Brenda", "Nicole", "Emma", "Rachel", "Janet",
    "Heather", "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Kelly", "Lauren",
    "Megan", "Andrea", "Cheryl", "Hannah", "Martha", "Gloria", "Teresa", "Sara",
    "Madison", "Frances", "Janice", "Alice", "Grace", "Judy", "Denise", "Amber",
    "Marilyn", "Danielle", "Beverly", "Isabella", "Diana", "Natalie", "Brittany",
    "Charlotte", "Kayla", "Lori", "Tamara", "Yvonne", "Wendy", "Holly", "Paula",
)

# Nicknames the CRM may hold instead of the formal given name. Only common,
# unambiguous ones (Bob is Robert, Liz is Elizabeth): a nickname shared by two
# formal names (Sam, Alex, Chris) would make "formatting only" depend on a guess.
CRM_NICKNAMES: dict[str, str] = {
    "Robert": "Bob", "William": "Bill", "James": "Jim", "Michael": "Mike",
    "Thomas": "Tom", "David": "Dave", "Joseph": "Joe", "Daniel": "Dan",
    "Richard": "Rick", "Anthony": "Tony", "Charles": "Chuck", "Matthew": "Matt",
    "Andrew": "Andy", "Gregory": "Greg", "Jeffrey": "Jeff", "Kenneth": "Ken",
    "Timothy": "Tim", "Nicholas": "Nick", "Benjamin": "Ben", "Joshua": "Josh",
    "Elizabeth": "Liz", "Jennifer": "Jenny", "Susan": "Sue", "Rebecca": "Becky",
    "Cynthia": "Cindy", "Pamela": "Pam", "Abigail": "Abby",
}
# The service inventory (never compared by name rules) uses looser ones too.
INVENTORY_NICKNAMES: dict[str, str] = {
    **CRM_NICKNAMES,
    "Edward": "Ed", "Lawrence": "Larry", "Stephen": "Steve", "Peter": "Pete",
    "Raymond": "Ray", "Douglas": "Doug", "Walter": "Walt", "Samantha": "Sam",
    "Victoria": "Vicky", "Jacqueline": "Jackie", "Patricia": "Patty",
}

# Names written with accents in the CRM (the customer typed them) and without
# them in billing's upper-case ASCII.
ACCENTED_GIVEN: tuple[str, ...] = (
    "José", "María", "Renée", "Zoë", "Andrés", "Inés", "Ramón", "Lucía", "Sofía",
    "Raúl", "Martín", "Mónica", "Verónica", "Héctor", "Joaquín",
)
#: The accented given names above that are women's names.
ACCENTED_FEMALE: tuple[str, ...] = ("María", "Renée", "Zoë", "Inés", "Lucía", "Sofía", "Mónica", "Verónica")
ACCENTED_FAMILY: tuple[str, ...] = (
    "García", "Peña", "Ibáñez", "Muñoz", "Núñez", "Rodríguez", "López",
    "Hernández", "Martínez", "Gómez", "Pérez", "Sánchez", "Ramírez", "Jiménez",
    "Álvarez", "Cortés", "Durán", "Chávez",
)

FAMILY: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson",
    "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker",
    "Evans", "Edwards", "Collins", "Stewart", "Morris", "Rogers", "Reed", "Cook",
    "Morgan", "Bell", "Murphy", "Bailey", "Cooper", "Richardson", "Cox", "Howard",
    "Ward", "Peterson", "Gray", "James", "Watson", "Brooks", "Kelly", "Sanders",
    "Price", "Bennett", "Wood", "Barnes", "Ross", "Henderson", "Coleman", "Jenkins",
    "Perry", "Powell", "Long", "Patterson", "Hughes", "Flores", "Washington",
    "Butler", "Simmons", "Foster", "Bryant", "Alexander", "Russell", "Griffin",
    "Hayes", "Myers", "Ford", "Hamilton", "Graham", "Sullivan", "Wallace", "Woods",
    "Cole", "West", "Jordan", "Owens", "Reynolds", "Fisher", "Ellis", "Harrison",
    "Gibson", "Mcdonald", "Marshall", "Kennedy", "Wells", "Alvarez", "Castillo",
    "Schmidt", "Stone", "Hoffman", "Weber", "Becker", "Schultz", "Keller",
    "Novak", "Kowalski", "Nguyen", "Tran", "Le", "Pham", "Kim", "Park", "Chen",
    "Wang", "Liu", "Patel", "Shah", "Singh", "Khan", "Ali", "Cohen", "Levine",
    "Larsen", "Olsen", "Hansen", "Berg", "Lindqvist", "Dubois", "Moreau", "Rossi",
    "Romano", "Costa", "Silva", "Santos", "Oliveira", "Fernandes", "Murray",
    "Freeman", "Wagner", "Hunt", "Black", "Daniels", "Palmer", "Mills", "Nichols",
    "Grant", "Knight", "Ferguson", "Rose", "Stephens", "Hudson", "Spencer",
    "Gardner", "Payne", "Pierce", "Berry", "Matthews", "Arnold", "Willis", "Ray",
    "Watkins", "Olson", "Carroll", "Duncan", "Snyder", "Hart", "Cunningham",
    "Bradley", "Lane", "Andrews", "Ruiz", "Harper", "Fox", "Riley", "Armstrong",
    "Carpenter", "Weaver", "Greene", "Lawrence", "Elliott", "Chavez", "Sims",
    "Austin", "Peters", "Kelley", "Franklin", "Lawson", "Fields", "Ryan", "Schneider",
    "Holland", "Whitaker", "Vaughn", "Barker", "Norris", "Lambert", "Caldwell",
    "Lowe", "Holt", "Fleming", "Brennan", "Mendoza", "Ortega", "Delgado", "Vega",
)

COMPANY_PREFIXES: tuple[str, ...] = (
    "Blue River", "Golden Gate", "Green Valley", "Silver Oak", "Red Rock",
    "Northstar", "Pioneer", "Summit", "Lakeside", "Evergreen", "Harbor View",
    "Cedar Ridge", "Maple Leaf", "Granite", "Sunrise", "Prairie", "Bayside",
    "Ironwood", "Copper Canyon", "Whitewater", "Tall Pines", "Riverbend",
)
TRADES: tuple[str, ...] = (
    "Plumbing", "Dental", "Bakery", "Auto Repair", "Landscaping", "Consulting",
    "Hardware", "Printing", "Roofing", "Florist", "Veterinary Clinic", "Law Office",
    "Cafe", "Fitness", "Electric", "Design Studio", "Logistics", "Realty",
    "Insurance", "Pharmacy", "Salon", "Catering", "Construction", "Accounting",
    "Marketing", "Optometry", "Flooring", "Brewing", "Tailoring", "Bookkeeping",
)
# Legal suffixes as billing writes them -> the ways the CRM writes the same one.
LEGAL_SUFFIXES: dict[str, tuple[str, ...]] = {
    "LLC": ("LLC", "L.L.C.", ", LLC", ""),
    "INC": ("Inc.", ", Inc.", "Inc", ""),
    "CORP": ("Corp.", "Corp", ""),
    "CO": ("Co.", "Co", ""),
    "LTD": ("Ltd.", "Ltd", ""),
    "": ("",),
}

STREETS: tuple[str, ...] = (
    "Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake",
    "Hill", "Sunset", "Highland", "Lincoln", "Jefferson", "Madison", "Franklin",
    "Walnut", "Chestnut", "Spruce", "Willow", "Birch", "Cherry", "Magnolia",
    "Dogwood", "Hickory", "Sycamore", "Poplar", "Laurel", "Juniper", "Aspen",
    "Meadow", "River", "Ridge", "Forest", "Valley", "Spring", "Church", "Mill",
    "Market", "Center", "Union", "School", "College", "Academy", "Prospect",
    "Pleasant", "Grove", "Orchard", "Garden", "Fairview", "Lakeview", "Hillcrest",
    "Woodland", "Brookside", "Riverside", "Broad", "Front", "Water", "Bridge",
    "Railroad", "Depot", "Adams", "Monroe", "Jackson", "Grant", "Hamilton",
    "Clinton", "Cleveland", "Harrison", "Taylor", "Polk", "Tyler", "Wilson",
    "Kennedy", "Roosevelt", "Hawthorne", "Redwood", "Cypress", "Alder", "Linden",
    "Mulberry", "Peachtree", "Bluebird", "Cardinal", "Heron", "Sparrow", "Falcon",
    "Eagle", "Canyon", "Mesa", "Summit", "Vista", "Harbor", "Bay", "Shore",
    "Beacon", "Colonial", "Heritage", "Liberty", "Independence", "Patriot",
)
# Street type: the full word and the postal abbreviation.
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"),
    ("Lane", "Ln"), ("Boulevard", "Blvd"), ("Court", "Ct"), ("Place", "Pl"),
    ("Terrace", "Ter"), ("Parkway", "Pkwy"),
)
DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"),
)

# City, state, lowest and highest zip code, area codes.
CITIES: tuple[tuple[str, str, int, int, tuple[str, ...]], ...] = (
    ("Seattle", "WA", 98101, 98199, ("206",)),
    ("Tacoma", "WA", 98402, 98499, ("253",)),
    ("Spokane", "WA", 99201, 99224, ("509",)),
    ("Portland", "OR", 97201, 97239, ("503", "971")),
    ("Eugene", "OR", 97401, 97408, ("541",)),
    ("Boise", "ID", 83702, 83716, ("208",)),
    ("Sacramento", "CA", 95811, 95838, ("916",)),
    ("Oakland", "CA", 94601, 94621, ("510",)),
    ("Fresno", "CA", 93701, 93728, ("559",)),
    ("San Diego", "CA", 92101, 92139, ("619", "858")),
    ("Phoenix", "AZ", 85003, 85054, ("602", "480")),
    ("Tucson", "AZ", 85701, 85750, ("520",)),
    ("Denver", "CO", 80202, 80239, ("303", "720")),
    ("Boulder", "CO", 80301, 80305, ("303",)),
    ("Salt Lake City", "UT", 84101, 84124, ("801",)),
    ("Albuquerque", "NM", 87101, 87123, ("505",)),
    ("Austin", "TX", 78701, 78759, ("512",)),
    ("Dallas", "TX", 75201, 75254, ("214", "972")),
    ("Houston", "TX", 77002, 77099, ("713", "832")),
    ("San Antonio", "TX", 78201, 78259, ("210",)),
    ("Oklahoma City", "OK", 73102, 73149, ("405",)),
    ("Omaha", "NE", 68102, 68164, ("402",)),
    ("Kansas City", "MO", 64105, 64158, ("816",)),
    ("St Louis", "MO", 63101, 63147, ("314",)),
    ("Minneapolis", "MN", 55401, 55455, ("612",)),
    ("Madison", "WI", 53703, 53726, ("608",)),
    ("Milwaukee", "WI", 53202, 53233, ("414",)),
    ("Chicago", "IL", 60601, 60661, ("312", "773")),
    ("Springfield", "IL", 62701, 62712, ("217",)),
    ("Indianapolis", "IN", 46202, 46260, ("317",)),
    ("Columbus", "OH", 43201, 43235, ("614",)),
    ("Cleveland", "OH", 44102, 44135, ("216",)),
    ("Detroit", "MI", 48201, 48239, ("313",)),
    ("Grand Rapids", "MI", 49503, 49548, ("616",)),
    ("Louisville", "KY", 40202, 40245, ("502",)),
    ("Nashville", "TN", 37201, 37221, ("615",)),
    ("Memphis", "TN", 38103, 38135, ("901",)),
    ("Atlanta", "GA", 30303, 30350, ("404", "678")),
    ("Charlotte", "NC", 28202, 28277, ("704",)),
    ("Raleigh", "NC", 27601, 27617, ("919",)),
    ("Richmond", "VA", 23219, 23238, ("804",)),
    ("Baltimore", "MD", 21201, 21239, ("410",)),
    ("Philadelphia", "PA", 19102, 19154, ("215", "267")),
    ("Pittsburgh", "PA", 15201, 15237, ("412",)),
    ("Newark", "NJ", 7102, 7114, ("973",)),
    ("Albany", "NY", 12203, 12211, ("518",)),
    ("Buffalo", "NY", 14201, 14226, ("716",)),
    ("Hartford", "CT", 6103, 6120, ("860",)),
    ("Providence", "RI", 2903, 2909, ("401",)),
    ("Boston", "MA", 2108, 2136, ("617",)),
    ("Worcester", "MA", 1602, 1610, ("508",)),
    ("Burlington", "VT", 5401, 5408, ("802",)),
    ("Portland", "ME", 4101, 4103, ("207",)),
    ("Miami", "FL", 33125, 33186, ("305", "786")),
    ("Tampa", "FL", 33602, 33647, ("813",)),
    ("Orlando", "FL", 32801, 32839, ("407",)),
    ("Jacksonville", "FL", 32202, 32258, ("904",)),
    ("New Orleans", "LA", 70112, 70131, ("504",)),
    ("Birmingham", "AL", 35203, 35244, ("205",)),
    ("Little Rock", "AR", 72201, 72227, ("501",)),
)

EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org", "mail.example.com")

# Products: canonical name -> billing plan codes, inventory product code,
# device id prefix, monthly price.
PRODUCTS: dict[str, tuple[tuple[str, ...], str, str, float]] = {
    "fiber_1g": (("INET-1000",), "FTTH-1000", "ONT", 80.0),
    "fiber_300": (("INET-300",), "FTTH-300", "ONT", 55.0),
    "dsl_50": (("DSL-50",), "ADSL-50", "MDM", 40.0),
    "monitoring": (("MON-BASIC", "MON-PLUS"), "MON-HUB", "HUB", 25.0),
}
INTERNET_PRODUCTS: tuple[str, ...] = ("fiber_1g", "fiber_300", "dsl_50")
PLAN_PRICE: dict[str, float] = {
    "INET-1000": 80.0, "INET-300": 55.0, "DSL-50": 40.0, "MON-BASIC": 25.0, "MON-PLUS": 35.0,
}

# Vehicles: world manufacturer identifier, make, models.
MAKES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1HG", "Honda", ("Accord", "Civic")),
    ("1FT", "Ford", ("F-150", "Ranger")),
    ("1FA", "Ford", ("Mustang", "Fusion")),
    ("4T1", "Toyota", ("Camry", "Corolla")),
    ("5YJ", "Tesla", ("Model 3", "Model Y")),
    ("1G1", "Chevrolet", ("Malibu", "Equinox")),
    ("3VW", "Volkswagen", ("Jetta", "Tiguan")),
    ("KMH", "Hyundai", ("Elantra", "Tucson")),
    ("1N4", "Nissan", ("Altima", "Sentra")),
    ("1C4", "Jeep", ("Grand Cherokee", "Wrangler")),
    ("WBA", "BMW", ("330i", "X3")),
    ("JM1", "Mazda", ("CX-5", "Mazda3")),
)
# Model year -> the VIN's tenth character.
MODEL_YEARS: dict[int, str] = {
    2016: "G", 2017: "H", 2018: "J", 2019: "K", 2020: "L", 2021: "M",
    2022: "N", 2023: "P", 2024: "R", 2025: "S",
}
# Recall campaigns: campaign number, make, component, days before as_of the
# notices were mailed.
CAMPAIGNS: tuple[tuple[str, str, str, int], ...] = (
    ("24V-318", "Honda", "fuel pump may fail", 540),
    ("26V-112", "Honda", "rear camera image may not display", 95),
    ("25V-041", "Ford", "rear axle bolt may fracture", 380),
    ("26V-207", "Ford", "seat belt pretensioner", 60),
    ("25V-560", "Toyota", "fuel pump impeller", 300),
    ("26V-088", "Toyota", "airbag sensor wiring", 130),
    ("25V-733", "Tesla", "trunk harness wiring", 220),
    ("26V-154", "Tesla", "seat belt warning chime", 75),
    ("24V-902", "Chevrolet", "brake hose may leak", 610),
    ("26V-031", "Chevrolet", "steering column bolt", 150),
    ("25V-377", "Volkswagen", "coolant pump wiring", 260),
    ("25V-611", "Hyundai", "anti-lock brake module fire risk", 200),
    ("26V-264", "Hyundai", "tow hitch harness", 40),
    ("25V-118", "Nissan", "hood latch corrosion", 330),
    ("26V-301", "Jeep", "plug-in hybrid battery fire risk", 110),
    ("25V-845", "BMW", "airbag inflator", 170),
    ("26V-190", "Mazda", "windshield wiper motor", 85),
)
REPAIR_DESCRIPTIONS: tuple[str, ...] = (
    "oil and filter change", "brake pads replaced", "tire rotation", "battery replaced",
    "multi-point inspection", "wiper blades", "cabin air filter", "alignment",
    "check engine light diagnosis", "coolant flush",
)

CASE_TOPICS: tuple[str, ...] = (
    "Billing question", "Technical support", "Service outage", "Plan change",
    "Equipment return", "Installation", "Account update", "Sales inquiry",
)
CASE_ORIGINS: tuple[str, ...] = ("Phone", "Email", "Web", "Chat")
SURVEY_TOPICS: tuple[str, ...] = ("Support call", "Installation", "Service visit", "Billing")
