"""UK name frequency tables (embedded data), spelling variants and nicknames used for aliases,
typos and the realism of sample cohorts (synth/noise.py).

Weights are approximate relative frequencies (per 10,000 of the population) in England and Wales
for people born 1950-1992, the birth cohorts of the 2002-2010 offending population; they follow
published ONS surname and baby-name rankings closely enough that name frequencies are realistic
(Smith much commoner than Okafor), which is what term-frequency adjustment in linkage needs.
"""
from __future__ import annotations

import functools
from typing import Final

import numpy as np

# Surnames: (name, weight per 10,000, group). group "sa" = South Asian, "af" = Black African or
# Caribbean-origin, "" = general; the generator leans on the group for people of that ethnicity.
_SURNAMES: Final = """
Smith 126 ;Jones 92 ;Williams 67 ;Taylor 48 ;Brown 46 ;Davies 43 ;Evans 32 ;Wilson 31 ;Thomas 30 ;
Johnson 29 ;Roberts 28 ;Robinson 24 ;Thompson 24 ;Wright 23 ;Walker 23 ;White 22 ;Edwards 22 ;
Hughes 21 ;Green 21 ;Hall 21 ;Lewis 20 ;Harris 20 ;Clarke 20 ;Jackson 19 ;Wood 18 ;
Turner 17 ;Martin 17 ;Cooper 17 ;Hill 17 ;Ward 16 ;Morris 16 ;Moore 16 ;Clark 16 ;Lee 15 ;King 15 ;
Baker 15 ;Harrison 15 ;Morgan 14 ;Allen 14 ;James 14 ;Scott 14 ;Phillips 13 ;Watson 13 ;Davis 13 ;
Parker 13 ;Price 12 ;Bennett 12 ;Young 12 ;Griffiths 12 ;Mitchell 12 ;Kelly 12 ;Cook 12 ;Carter 12 ;
Richardson 11 ;Bailey 11 ;Collins 11 ;Bell 11 ;Shaw 11 ;Murphy 11 ;Miller 11 ;Cox 11 ;Richards 10 ;
Marshall 10 ;Anderson 10 ;Simpson 10 ;Ellis 10 ;Adams 10 ;Wilkinson 10 ;Foster 10 ;
Chapman 9 ;Powell 9 ;Webb 9 ;Rogers 9 ;Gray 9 ;Mason 9 ;Hunt 9 ;Campbell 9 ;Matthews 9 ;Owen 9 ;
Palmer 9 ;Holmes 9 ;Mills 9 ;Barnes 8 ;Knight 8 ;Lloyd 8 ;Butler 8 ;Russell 8 ;Barker 8 ;Fisher 8 ;
Stevens 8 ;Jenkins 8 ;Murray 8 ;Dixon 8 ;Harvey 8 ;Graham 8 ;Pearson 8 ;Fletcher 8 ;Walsh 8 ;
Gibson 7 ;Howard 7 ;Andrews 7 ;Stewart 7 ;Elliott 7 ;Reynolds 7 ;Saunders 7 ;Payne 7 ;Fox 7 ;Ford 7 ;
Pearce 7 ;Day 7 ;Brooks 7 ;West 7 ;Lawrence 7 ;Cole 7 ;Atkinson 7 ;Bradley 7 ;Spencer 7 ;Dawson 7 ;
Ball 7 ;Burton 7 ;O'Brien 7 ;Watts 7 ;Rose 7 ;Booth 7 ;Perry 7 ;Ryan 7 ;Grant 6 ;Wells 6 ;
Armstrong 6 ;Francis 6 ;Rees 6 ;Hayes 6 ;Hart 6 ;Hudson 6 ;Newman 6 ;Barrett 6 ;Webster 6 ;Hunter 6 ;
Gregory 6 ;Carr 6 ;Lowe 6 ;Page 6 ;Marsh 6 ;Riley 6 ;Dunn 6 ;Woods 6 ;Parsons 6 ;Berry 6 ;Stone 6 ;
Reid 6 ;Holland 6 ;Hawkins 6 ;Harding 6 ;Porter 6 ;Robertson 6 ;Newton 6 ;Oliver 6 ;Reed 6 ;
Kennedy 6 ;Williamson 6 ;Bird 6 ;Gardner 6 ;Dean 6 ;Lane 6 ;Cooke 6 ;Bates 6 ;Henderson 6 ;
Parry 6 ;Burgess 5 ;Bishop 5 ;Walton 5 ;Burns 5 ;Nicholson 5 ;Shepherd 5 ;Ross 5 ;Cross 5 ;Long 5 ;
Freeman 5 ;Warren 5 ;Nicholls 5 ;Hamilton 5 ;Byrne 5 ;Sutton 5 ;McDonald 5 ;Yates 5 ;Hodgson 5 ;
Robson 5 ;Curtis 5 ;Hopkins 5 ;O'Connor 5 ;Harper 5 ;Coleman 5 ;Watkins 5 ;Moss 5 ;McCarthy 5 ;
Chambers 5 ;O'Neill 5 ;Griffin 5 ;Sharp 5 ;Hardy 5 ;Wheeler 5 ;Potter 5 ;Osborne 5 ;Johnston 5 ;
Gordon 5 ;Doyle 5 ;Wallace 5 ;George 5 ;Jordan 5 ;Hutchinson 5 ;Rowe 5 ;Burke 5 ;May 5 ;
Pritchard 5 ;Gilbert 5 ;Willis 5 ;Higgins 5 ;Read 5 ;Miles 5 ;Stevenson 5 ;Stephenson 5 ;Hammond 5 ;
Arnold 5 ;Buckley 5 ;Walters 5 ;Hewitt 5 ;Barber 5 ;Nelson 5 ;Slater 5 ;Austin 5 ;Sullivan 5 ;
Whitehead 5 ;Mann 5 ;Frost 5 ;Lambert 5 ;Stephens 5 ;Blake 5 ;Lynch 5 ;Goodwin 5 ;Barton 5 ;
Woodward 5 ;Thomson 4 ;Cunningham 4 ;Quinn 4 ;Barnett 4 ;Baxter 4 ;Clayton 4 ;Nash 4 ;Greenwood 4 ;
Jennings 4 ;Holt 4 ;Kemp 4 ;Poole 4 ;Gallagher 4 ;Bond 4 ;Stokes 4 ;Tucker 4 ;Davidson 4 ;Fowler 4 ;
Heath 4 ;Norman 4 ;Middleton 4 ;Lawson 4 ;Banks 4 ;French 4 ;Stanley 4 ;Jarvis 4 ;Gibbs 4 ;
Ferguson 4 ;Hayward 4 ;Carroll 4 ;Farrell 4 ;Vaughan 4 ;Pugh 4 ;Morton 4 ;Bryant 4 ;Dale 4 ;
Kirby 4 ;Fraser 4 ;Fuller 4 ;Lucas 4 ;Sanders 4 ;Sims 4 ;Hancock 4 ;Parkinson 4 ;Townsend 4 ;
Howell 4 ;Preston 4 ;Hale 4 ;Connolly 4 ;Horton 4 ;Duffy 4 ;Tyler 4 ;Lord 4 ;Rhodes 4 ;Moran 4 ;
Humphreys 4 ;Sheppard 4 ;Flynn 4 ;Brennan 4 ;Hargreaves 3 ;Pollard 3 ;Steele 3 ;Charlton 3 ;
Hilton 3 ;Kirk 3 ;Whittaker 3 ;Cartwright 3 ;Ashton 3 ;Fitzgerald 3 ;Hanson 3 ;Haynes 3 ;Sykes 3 ;
Bull 3 ;Dobson 3 ;Rowley 3 ;Bolton 3 ;Brookes 3 ;Bowen 3 ;Lamb 3 ;Welch 3 ;Thornton 3 ;Finch 3 ;
Davey 3 ;Bentley 3 ;Knowles 3 ;Mellor 3 ;Sweeney 3 ;Swift 3 ;Hopkinson 3 ;Ingram 3 ;Mooney 3 ;
Patel 19 sa;Khan 10 sa;Singh 10 sa;Begum 10 sa;Ali 9 sa;Hussain 9 sa;Ahmed 8 sa;Kaur 7 sa;
Shah 6 sa;Akhtar 5 sa;Bibi 5 sa;Mahmood 3 sa;Iqbal 3 sa;Rahman 3 sa;Miah 3 sa;Islam 3 sa;
Sharma 2 sa;Kumar 2 sa;Mistry 2 sa;Chauhan 2 sa;Uddin 2 sa;Aziz 2 sa;Bashir 2 sa;Rashid 2 sa;
Akram 2 sa;Malik 2 sa;Sandhu 2 sa;Gill 7 sa;Dhillon 2 sa;Choudhury 2 sa;Parmar 2 sa;Mirza 1 sa;
Okafor 1 af;Mensah 2 af;Osei 1 af;Boateng 1 af;Adeyemi 1 af;Okoro 1 af;Owusu 2 af;Asante 1 af;
Adebayo 1 af;Oduya 1 af;Ogunleye 1 af;Ibrahim 2 af;Mohamed 3 af;Abdi 2 af;Warsame 1 af;Farah 1 af;
Grant 2 af;Campbell 3 af;Francis 2 af;Clarke 3 af;Brown 4 af;Williams 4 af;Thomas 2 af;Reid 2 af;
Robinson 2 af;Henry 2 af;Morgan 2 af;Lewis 2 af;Bailey 2 af;Edwards 2 af;Samuels 1 af;Forbes 1 af
"""

# Forenames by sex: (name, weight per 10,000 of that sex, group)
_MALE: Final = """
David 300 ;Michael 280 ;Paul 250 ;Mark 250 ;John 250 ;Andrew 220 ;James 220 ;Daniel 200 ;
Christopher 200 ;Richard 160 ;Robert 160 ;Matthew 160 ;Stephen 150 ;Lee 140 ;Steven 130 ;
Peter 120 ;Gary 120 ;Thomas 120 ;Anthony 120 ;Darren 120 ;Ryan 120 ;Craig 110 ;Wayne 100 ;
Kevin 100 ;Jason 100 ;Ian 100 ;Adam 100 ;Dean 90 ;Scott 90 ;Jamie 90 ;Simon 90 ;Carl 80 ;
Martin 80 ;Liam 80 ;Neil 70 ;Luke 70 ;Shaun 60 ;Sean 60 ;Jonathan 60 ;Philip 60 ;Alan 60 ;
Nathan 60 ;Stuart 60 ;Ashley 60 ;Joseph 60 ;Kieran 50 ;Aaron 50 ;Nicholas 50 ;Benjamin 50 ;
Jack 50 ;Jordan 50 ;Graham 40 ;Keith 40 ;Colin 40 ;Brian 40 ;Barry 40 ;Tony 40 ;Karl 40 ;
Kyle 40 ;Ben 40 ;Joshua 40 ;Samuel 40 ;Leon 30 ;Marcus 30 ;Terry 30 ;Ricky 30 ;Danny 30 ;
Gavin 30 ;Glen 30 ;Jon 25 ;Russell 25 ;Trevor 25 ;Raymond 25 ;Derek 25 ;Kenneth 25 ;Gareth 30 ;
Owen 20 ;Rhys 25 ;Dale 25 ;Mathew 20 ;Patrick 25 ;Sam 20 ;Alexander 25 ;Tom 15 ;Billy 20 ;
Connor 20 ;Callum 20 ;Bradley 30 ;Jake 25 ;Dominic 20 ;Edward 20 ;George 20 ;William 40 ;
Francis 10 ;Gregory 10 ;Justin 15 ;Jeffrey 10 ;Geoffrey 10 ;Roy 15 ;Dennis 10 ;Frank 10 ;
Phillip 20 ;Leigh 15 ;Mitchell 15 ;Gordon 10 ;Clive 10 ;Nigel 20 ;Malcolm 10 ;Roger 10 ;
Vincent 10 ;Adrian 20 ;Damien 15 ;Declan 10 ;Conor 10 ;Sonny 5 ;Reece 20 ;Tyler 15 ;Harry 15 ;
Mohammed 60 sa;Muhammad 30 sa;Mohammad 20 sa;Imran 20 sa;Ali 20 sa;Abdul 15 sa;Asif 15 sa;
Amir 15 sa;Tariq 10 sa;Zahid 10 sa;Kamran 10 sa;Shahid 10 sa;Adnan 10 sa;Faisal 10 sa;
Raj 8 sa;Sanjay 8 sa;Amit 8 sa;Gurpreet 6 sa;Jaswinder 5 sa;Rajesh 6 sa;Hassan 10 sa;
Usman 8 sa;Bilal 8 sa;Irfan 8 sa;Nadeem 6 sa;Sajid 6 sa;Wasim 6 sa;Arif 6 sa;
Jermaine 15 af;Delroy 10 af;Tyrone 10 af;Dwayne 10 af;Winston 8 af;Leroy 10 af;Clinton 6 af;
Marlon 8 af;Kwame 6 af;Kofi 5 af;Emeka 4 af;Chukwuma 3 af;Olumide 3 af;Abdi 6 af;Ahmed 8 af;
Ibrahim 6 af;Omar 6 af;Mohamed 10 af;Kareem 4 af;Andre 8 af;Carlton 6 af;Errol 5 af;Devon 5 af
"""

_FEMALE: Final = """
Sarah 250 ;Lisa 220 ;Claire 200 ;Emma 200 ;Nicola 180 ;Michelle 180 ;Kelly 160 ;Louise 160 ;
Samantha 150 ;Donna 120 ;Joanne 140 ;Karen 130 ;Julie 120 ;Amanda 120 ;Rachel 130 ;Laura 140 ;
Gemma 120 ;Stacey 100 ;Hayley 90 ;Leanne 90 ;Kirsty 80 ;Natalie 90 ;Victoria 90 ;Rebecca 110 ;
Jennifer 70 ;Helen 80 ;Susan 80 ;Tracey 80 ;Dawn 60 ;Angela 60 ;Lorraine 50 ;Sharon 70 ;
Deborah 60 ;Jacqueline 50 ;Elizabeth 50 ;Catherine 50 ;Amy 100 ;Charlotte 90 ;Danielle 90 ;
Jade 80 ;Zoe 60 ;Kerry 70 ;Vicky 30 ;Lindsey 30 ;Katie 60 ;Sophie 50 ;Jessica 40 ;Hannah 50 ;
Lucy 40 ;Stephanie 50 ;Melanie 40 ;Kim 30 ;Wendy 30 ;Carol 30 ;Linda 30 ;Maria 40 ;Sandra 30 ;
Jane 40 ;Alison 40 ;Anna 30 ;Jodie 40 ;Chelsea 30 ;Shannon 30 ;Tanya 30 ;Toni 25 ;Kayleigh 40 ;
Carly 40 ;Sian 30 ;Cheryl 30 ;Tina 25 ;Paula 30 ;Sally 20 ;Joanna 20 ;Marie 25 ;Jenna 25 ;
Leah 30 ;Naomi 20 ;Chloe 30 ;Lauren 40 ;Abigail 15 ;Becky 15 ;Caroline 30 ;Clare 30 ;
Debbie 15 ;Fiona 20 ;Gillian 20 ;Heather 20 ;Janet 20 ;Joanne 10 ;Kathryn 15 ;Lynn 15 ;
Maxine 15 ;Nichola 10 ;Patricia 15 ;Rachael 15 ;Ruth 15 ;Sheila 10 ;Terri 10 ;Tracy 30 ;
Vanessa 10 ;Yvonne 15 ;Zara 10 ;Jasmine 15 ;Kimberley 20 ;Rosie 10 ;Holly 20 ;Georgina 10 ;
Aisha 10 sa;Fatima 10 sa;Nasreen 8 sa;Shazia 8 sa;Samina 6 sa;Parveen 8 sa;Yasmin 10 sa;
Rubina 6 sa;Saima 6 sa;Nadia 8 sa;Sana 5 sa;Amina 6 sa;Priya 5 sa;Sunita 5 sa;Harjit 4 sa;
Rukhsana 5 sa;Farzana 6 sa;Shabana 5 sa;Nazia 5 sa;Salma 5 sa;
Marcia 8 af;Sherelle 5 af;Jolene 5 af;Keisha 8 af;Shanice 8 af;Tanisha 5 af;Abena 4 af;
Ngozi 3 af;Chantelle 10 af;Simone 8 af;Sonia 8 af;Beverley 10 af;Janice 6 af;Precious 4 af;
Hodan 3 af;Fadumo 3 af;Amal 3 af;Nicole 10 af;Natasha 12 af;Latoya 5 af
"""

# Spelling variants people are really recorded under (the commonest sources of name mismatch).
_KNOWN_VARIANTS: Final = [
    ("Steven", "Stephen"), ("Jon", "John"), ("Sean", "Shaun", "Shaune"), ("Philip", "Phillip"),
    ("Jeffrey", "Geoffrey", "Jeffery"), ("Mohammed", "Muhammad", "Mohammad", "Mohamed", "Mohamad"),
    ("Lee", "Leigh"), ("Karl", "Carl"), ("Nicola", "Nichola", "Nikola"), ("Claire", "Clare", "Clair"),
    ("Tracey", "Tracy", "Tracie"), ("Stacey", "Stacy", "Stacie"), ("Zoe", "Zoey", "Zoë"),
    ("Kerry", "Kerri", "Kerrie"), ("Hayley", "Haley", "Hailey"), ("Leanne", "Lianne", "Leann"),
    ("Rebecca", "Rebekah"), ("Katie", "Katy", "Katey"), ("Rachel", "Rachael"), ("Mathew", "Matthew"),
    ("Kayleigh", "Kayley", "Kaley"), ("Jodie", "Jody", "Jodi"), ("Toni", "Tony"), ("Carly", "Carley"),
    ("Kirsty", "Kirstie", "Kirsti"), ("Lindsey", "Lindsay"), ("Ashley", "Ashleigh"),
    ("Thompson", "Thomson", "Tomson"), ("Clarke", "Clark"), ("Davies", "Davis", "Davis"),
    ("Phillips", "Philips"), ("Stephens", "Stevens"), ("Stephenson", "Stevenson"),
    ("Reid", "Read", "Reed", "Reade"), ("Matthews", "Mathews"), ("McDonald", "MacDonald", "Mcdonald"),
    ("Hussain", "Hussein", "Husain"), ("Ahmed", "Ahmad"), ("Gray", "Grey"), ("Smith", "Smyth"),
    ("Cook", "Cooke"), ("Brown", "Browne"), ("O'Brien", "OBrien", "O Brien"),
    ("O'Neill", "O'Neil", "ONeill"), ("O'Connor", "OConnor", "O Connor"), ("Griffiths", "Griffith"),
    ("Brooks", "Brookes"), ("Nicholls", "Nichols"), ("Rahman", "Rehman"), ("Miah", "Mia"),
    ("Choudhury", "Chowdhury", "Choudhry"), ("Mahmood", "Mahmud"), ("Begum", "Begam"),
    ("Hodgson", "Hodgeson"), ("Sheppard", "Shepherd", "Shephard"), ("Elliott", "Elliot"),
]


# Short forms people give for themselves (and organisations write down) while the police record
# holds the formal name: the commonest reason a correct person is missed on forename (Christen,
# "Data Matching", 2012, ch. 5; the nickname lists behind name-matching tools such as the
# carltonnorthern/nicknames table). Formal name -> its usual short forms.
NICKNAMES: Final = {
    "William": ("Bill", "Billy", "Will", "Liam"), "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "Michael": ("Mike", "Mick", "Mickey"), "David": ("Dave", "Davey"),
    "Christopher": ("Chris", "Kit"), "Richard": ("Rich", "Rick", "Richie", "Dick"),
    "Anthony": ("Tony", "Ant"), "Stephen": ("Steve", "Stevie"), "Steven": ("Steve", "Stevie"),
    "Andrew": ("Andy", "Drew"), "James": ("Jim", "Jimmy", "Jamie"), "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt", "Matty"), "Thomas": ("Tom", "Tommy"), "Joseph": ("Joe", "Joey"),
    "Nicholas": ("Nick", "Nicky"), "Benjamin": ("Ben", "Benny"), "Samuel": ("Sam", "Sammy"),
    "Edward": ("Ed", "Eddie", "Ted"), "Alexander": ("Alex", "Sandy"), "Jonathan": ("Jon", "Jonny"),
    "Peter": ("Pete",), "Kenneth": ("Ken", "Kenny"), "Raymond": ("Ray",), "Gregory": ("Greg",),
    "Patrick": ("Pat", "Paddy"), "Philip": ("Phil",), "Phillip": ("Phil",), "Joshua": ("Josh",),
    "Terence": ("Terry",), "Gareth": ("Gaz",), "Gary": ("Gaz",), "Darren": ("Daz",),
    "Dominic": ("Dom",), "Nathan": ("Nat",), "Malcolm": ("Mal",), "Gordon": ("Gord",),
    "Frank": ("Frankie",), "Dennis": ("Den",), "Vincent": ("Vince", "Vinny"),
    "Mohammed": ("Mo",), "Muhammad": ("Mo",), "Mohammad": ("Mo",), "Mohamed": ("Mo",),
    "Abdul": ("Abdi",), "Ibrahim": ("Ibby",),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty"), "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"), "Samantha": ("Sam", "Sammy"), "Jacqueline": ("Jackie",),
    "Deborah": ("Debbie", "Debs"), "Catherine": ("Cath", "Kate", "Cathy"),
    "Jennifer": ("Jenny", "Jen"), "Stephanie": ("Steph",), "Nicola": ("Nicky", "Nikki"),
    "Joanne": ("Jo",), "Joanna": ("Jo",), "Kimberley": ("Kim",), "Natalie": ("Nat", "Tash"),
    "Charlotte": ("Charlie", "Lottie"), "Patricia": ("Pat", "Trish"), "Susan": ("Sue", "Suzy"),
    "Amanda": ("Mandy",), "Melanie": ("Mel",), "Gillian": ("Gill",), "Abigail": ("Abi", "Abby"),
    "Danielle": ("Dani",), "Alison": ("Ali",), "Caroline": ("Caz",), "Katie": ("Kat",),
    "Jessica": ("Jess",), "Hannah": ("Han",), "Lorraine": ("Lol",), "Kathryn": ("Kath", "Kate"),
    "Natasha": ("Tash", "Tasha"), "Stacey": ("Stace",), "Sharon": ("Shaz",), "Fatima": ("Fati",),
}


def _parse(block: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    names: list[str] = []
    weights: list[float] = []
    groups: list[str] = []
    seen: dict[str, int] = {}
    for item in block.replace("\n", "").split(";"):
        parts = item.split(" ")
        if len(parts) < 2 or not parts[0]:
            continue
        name, weight, group = parts[0], float(parts[1]), (parts[2] if len(parts) > 2 else "")
        key = f"{name}|{group}"
        if key in seen:  # listed twice in a group: add the weights
            weights[seen[key]] += weight
            continue
        seen[key] = len(names)
        names.append(name)
        weights.append(weight)
        groups.append(group)
    return names, np.asarray(weights, dtype=np.float64), np.asarray(groups)


class NameTable:
    """Names with weights and an ethnic-origin group; draws indices into ``names``."""

    def __init__(self, block: str) -> None:
        names, weights, groups = _parse(block)
        self.names: list[str] = names
        self.weights = weights
        self.groups = groups

    def probabilities(self, group_boost: str | None = None, boost: float = 1.0) -> np.ndarray:
        """Draw probabilities; names of ``group_boost`` get ``boost`` times their weight."""
        w = self.weights.copy()
        if group_boost is not None:
            w[self.groups == group_boost] *= boost
        return w / w.sum()

    def __len__(self) -> int:
        return len(self.names)


@functools.cache
def surnames() -> NameTable:
    return NameTable(_SURNAMES)


@functools.cache
def male_forenames() -> NameTable:
    return NameTable(_MALE)


@functools.cache
def female_forenames() -> NameTable:
    return NameTable(_FEMALE)


@functools.cache
def _variant_map() -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for group in _KNOWN_VARIANTS:
        for name in group:
            out.setdefault(name, set()).update(v for v in group if v != name)
    return {k: tuple(sorted(v)) for k, v in out.items()}


_VOWELS = "aeiou"


def algorithmic_variants(name: str) -> list[str]:
    """Plausible misspellings of a name: doubled or dropped letter, swapped neighbours, a vowel
    changed. Deterministic and sorted, so index-based draws are reproducible."""
    out: set[str] = set()
    n = len(name)
    low = name.lower()
    for i in range(1, n):
        if low[i].isalpha():
            out.add(name[:i] + name[i + 1:])                      # dropped letter
            out.add(name[:i] + name[i] + name[i:])                # doubled letter
        if i < n - 1 and low[i] != low[i + 1] and low[i].isalpha() and low[i + 1].isalpha():
            out.add(name[:i] + name[i + 1] + name[i] + name[i + 2:])  # swapped neighbours
        if low[i] in _VOWELS:
            for v in _VOWELS:
                if v != low[i]:
                    out.add(name[:i] + v + name[i + 1:])          # vowel changed
    out.discard(name)
    return sorted(v for v in out if len(v) >= 2)


def spelling_variants(name: str) -> tuple[str, ...]:
    """Known alternative spellings if any, else a handful of algorithmic misspellings."""
    known = _variant_map().get(name)
    if known:
        return known
    alg = algorithmic_variants(name)
    # keep a deterministic spread rather than the alphabetically first few
    step = max(1, len(alg) // 6)
    return tuple(alg[::step][:6])


def nicknames(name: str) -> tuple[str, ...]:
    """Usual short forms of a formal forename (empty when it has none)."""
    return NICKNAMES.get(name, ())


def known_variants(name: str) -> tuple[str, ...]:
    """Recorded alternative spellings of a name (Mohammed/Muhammad; empty when none are known)."""
    return _variant_map().get(name, ())


def typo(name: str, rng: np.random.Generator) -> str:
    """One random keying error (for cohort noise): a different name that reads as the same."""
    options = algorithmic_variants(name)
    if not options:
        return name + name[-1]
    return options[int(rng.integers(len(options)))]
