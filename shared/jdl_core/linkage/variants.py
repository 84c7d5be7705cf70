"""Forename and surname variants: nicknames and alternative spellings that name the same person.

Agencies record a person under the name they give: "Bill" at a community project, "William" on the
Police National Computer; "Muhammad" in one system and "Mohammed" in another. Edit distance does
not see Bill/William and under-rates Mohammed/Muhammad, so the linkage model has a comparison level
"known variant" that looks both names up in these groups (``variant_key``).

Groups are joined into one key when they share a name (Tony is Anthony's and Antonia's, Toni
Antonia's), so a name has one key; sex is compared separately, which keeps Anthony and Antonia
apart. The lists are general knowledge of English, Welsh, Irish and South Asian forenames and
common British surname spellings; they are not taken from the synthetic data's own tables.
"""
from __future__ import annotations

import functools
from typing import Final

# One group per line: the formal name first, then nicknames and spellings. Standardised on load
# (upper case, letters only), so "O'Neil" and "ONeil" are the same entry.
_FORENAMES: Final = """
William Bill Billy Will Willie Willy Liam Wills
Robert Bob Bobby Rob Robbie Robby Bert Bertie Rab
Richard Rich Richie Rick Ricky Dick Dickie
James Jim Jimmy Jamie Jimmie Jas Jem
John Jon Johnny Jonny Jack Johnnie Ian Iain Sean Shaun Shawn Shaune Eoin Evan
Jonathan Jonathon Jon Jonny Johnathan
Michael Mike Mick Micky Mickey Mikey Mic
Christopher Chris Kit Christy Kris Topher
Anthony Antony Tony Ant Anton
Antonia Toni Tonia
Andrew Andy Drew Andi
Daniel Dan Danny Dani
David Dave Davey Davy Dai Dafydd
Stephen Steven Steve Stevie Stephan Stefan
Thomas Tom Tommy Thom Tomas
Matthew Mathew Matt Matty Mat
Peter Pete
Paul Pauly
Mark Marc Marcus Markus
Edward Ed Eddie Eddy Ted Teddy Ned
Joseph Joe Joey Jo Jos
Samuel Sam Sammy
Benjamin Ben Benny Benji
Nicholas Nick Nicky Nic Nico Nicolas Nickolas
Alexander Alex Alec Alexandre Sandy Xander
Alexandra Alex Lexi Sandra Alexa
Patrick Pat Paddy Patrik
Philip Phillip Phil Pip Filip
Gerald Gerry Jerry Ged
Gerard Gerry Ged
Jeffrey Geoffrey Jeff Geoff Jeffery
Kenneth Ken Kenny
Raymond Ray
Ronald Ron Ronnie
Donald Don Donnie
Leonard Len Lenny Leo
Lawrence Laurence Larry Laurie Lol
Terence Terry Terrence
Timothy Tim Timmy
Francis Frank Frankie Fran
Frederick Fred Freddie Freddy Frederic
Henry Harry Hal Hank
Charles Charlie Chas Chuck Chaz
Albert Al Bert Bertie Alberto
Alan Allan Allen Al
Arthur Art Artie
Gregory Greg Gregor
Douglas Doug Dougie
Stuart Stewart Stu
Gareth Gary Garry Garey Gaz Gazza
Darren Daz Darran
Wayne Wane
Craig Kraig
Carl Karl
Lee Leigh
Dean Deano
Jamal Jamaal
Nathan Nat Nate Nathaniel
Reece Rhys Reese Rees
Kieran Kieron Ciaran Ciaron
Connor Conor Conner
Callum Calum Cal
Declan Dec
Dominic Dom Dominick
Joshua Josh
Zachary Zach Zak Zack
Oliver Ollie Olly
Bradley Brad
Gavin Gav
Shane Shayne
Dwayne Duane Dewayne
Malcolm Mal Malc
Gordon Gord Gordie
Dennis Denis Den Denny
Vincent Vince Vinny Vinnie
Gillian Gill Gilly Jill Jillian
Alison Allison Ali Ally
Caroline Carolyn Caz Caro
Hannah Hanna Han
Lorraine Lorrain Lol Lorrie
Jermaine Germaine
Mohammed Muhammad Mohammad Mohamed Mohamad Muhammed Mohammod Mohd Mohamud Mahomed Mo Moe
Ahmed Ahmad Ahmet
Abdul Abdool Abdi
Hussain Hussein Husain Husein
Hassan Hasan
Usman Osman Uthman
Yusuf Yousef Yousuf Yusef
Ibrahim Ebrahim Ibraheem Ibby
Imran Imraan
Mustafa Mustapha Moustafa
Ali Aly
Sarah Sara Sally Sal
Elizabeth Liz Lizzie Beth Betty Eliza Elisabeth Liza Libby Bess
Catherine Katherine Kathryn Cathryn Kate Katie Katy Cath Cathy Kath Kathy Kay Kitty Katey Kat
Margaret Maggie Meg Peggy Marge Margo Margot Rita
Rebecca Rebekah Becky Becca Bex
Jennifer Jen Jenny Jenni
Victoria Vicky Vicki Vikki Tori
Samantha Sam Sammy Sammie
Deborah Debra Debbie Debs Deb
Susan Sue Susie Suzy Suzanne Suzie
Jacqueline Jackie Jacqui Jacky
Patricia Pat Patty Trish Tricia
Christine Chris Chrissie Christina Kristina Tina
Amanda Mandy Manda
Michelle Shelly Michele Shelley
Nicola Nichola Nikola Nicky Nikki Nicole Nikita
Stephanie Steph Stef
Natalie Nat Natalia Nathalie Natasha Tash Tasha Nattie
Joanne Joanna Jo Joann Joanna Jo-anne
Louise Lou Louisa
Claire Clare Clair
Tracey Tracy Tracie
Stacey Stacy Stacie Stace
Kerry Kerri Kerrie Keri
Hayley Haley Hailey Haylee
Leanne Lianne Leann Leane
Rachel Rachael Rach
Kayleigh Kayley Kaley Kaylee
Jodie Jody Jodi
Kirsty Kirstie Kirsti Kirstin Kirsten
Lindsey Lindsay Linsey
Ashley Ashleigh
Carly Carley Carlie
Zoe Zoey Zoie
Gemma Jemma
Donna Dona
Julie Julia Jules
Karen Caron Karin Caren
Sharon Shaz Sharron
Charlotte Charlie Lottie Lotte
Abigail Abbie Abby Abi Gail
Danielle Dani Daniela
Jessica Jess Jessie
Melanie Mel
Kimberley Kimberly Kim
Jade Jayde
Chantelle Shantelle Chantel
Shannon Shanon
Aisha Ayesha Aysha Asha
Fatima Fatimah Fatma Fati
Yasmin Yasmine Jasmine Jasmin Yasmeen
Nasreen Nasrin
Parveen Parvin Perveen
Shazia Shaziya
Samina Sameena
"""

_SURNAMES: Final = """
Thompson Thomson Tomson Thomsen
Clarke Clark Clerk
Davies Davis Davie
Phillips Philips Phillipps
Stephens Stevens Stephen Steven
Stephenson Stevenson
Reid Read Reed Reade
Matthews Mathews Matthew
McDonald MacDonald Mcdonnell MacDonnell
Hussain Hussein Husain Husein
Ahmed Ahmad
Mohammed Muhammad Mohammad Mohamed Mohamud
Gray Grey
Smith Smyth Smithe
Cook Cooke
Brown Browne
OBrien OBryan Obrian
ONeill ONeil Oneal
OConnor OConner
Griffiths Griffith Griffiths
Brooks Brookes
Nicholls Nichols Nicholl
Rahman Rehman Rahmen
Miah Mia Meah
Choudhury Chowdhury Choudhry Chaudhry Chaudhary
Mahmood Mahmud Mehmood
Begum Begam
Hodgson Hodgeson
Sheppard Shepherd Shephard Shepard
Elliott Elliot Eliot
Johnson Jonson
Johnston Johnstone
Anderson Andersen
Macleod McLeod
Mackenzie McKenzie
Mcintosh Macintosh Mackintosh
Byrne Byrnes Beirne
Kelly Kelley
Harris Harries
Philpott Philpot
Lloyd Loyd
Pearce Pierce Pearse Peirce
Hughes Hewes
Rees Reece Reese Rhys
Powell Powel
Morris Morice Maurice
Jeffries Jefferies Jeffreys Jefferys
"""


def _build(block: str) -> dict[str, str]:
    """name -> group key (the first name of its merged group), names standardised."""
    from .prepare import standardise_name  # prepare imports this module

    groups = [
        [n for n in (standardise_name(w) for w in line.split()) if n]
        for line in block.strip().splitlines()
    ]
    # union-find over names so overlapping groups share one key
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        root = find(group[0])
        for name in group[1:]:
            other = find(name)
            if other != root:
                parent[other] = root
    return {name: find(name) for name in parent}


@functools.cache
def forename_keys() -> dict[str, str]:
    return _build(_FORENAMES)


@functools.cache
def surname_keys() -> dict[str, str]:
    return _build(_SURNAMES)


def variant_key(name: str | None, table: dict[str, str]) -> str | None:
    """The group key of a standardised name, or None when the name is in no group (two names
    match on this level only when both are known variants of each other)."""
    if not name:
        return None
    return table.get(name)
