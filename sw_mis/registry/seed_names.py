"""Given and family names per country, for the synthetic registry (``seed.py``).

Common names only, so search benchmarks meet the same crowding of frequent names that a real
registry has. Countries share a list where naming customs do (e.g. Spanish in Central America).
"""

from __future__ import annotations

from typing import NamedTuple


class NameBook(NamedTuple):
    """Names of one naming tradition; ``family`` is empty where people have no family name."""

    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    #: Certifying body for disability, as the registry would record it.
    disability_body: str


def _names(text: str) -> tuple[str, ...]:
    """Split a comma-separated list (names may contain spaces: "John Paul", "Dela Cruz")."""
    return tuple(n.strip() for n in text.split(","))


_PAKISTAN = NameBook(
    male=_names(
        "Muhammad, Ahmed, Ali, Hassan, Hussain, Imran, Bilal, Usman, Zahid, Tariq, Asif, "
        "Farooq, Naveed, Shahid, Khalid, Waqas, Fahad, Sajid, Irfan, Junaid, Kamran, Rashid, "
        "Nadeem, Arshad, Iftikhar, Gul, Sher, Zubair, Yasir, Abdullah, Hamza, Saeed, Noor, "
        "Rehman, Ismail, Jawad"
    ),
    female=_names(
        "Fatima, Ayesha, Zainab, Khadija, Maryam, Amina, Bushra, Nasreen, Shazia, Rubina, "
        "Samina, Parveen, Saima, Nazia, Sadia, Farzana, Kausar, Rukhsana, Shabana, Iqra, Hina, "
        "Sana, Uzma, Gulnaz, Bibi, Naseem, Tahira, Robina, Mehwish, Sidra, Asma, Zarina, "
        "Shaista, Nargis"
    ),
    family=_names(
        "Khan, Shah, Afridi, Yousafzai, Khattak, Durrani, Mohmand, Bangash, Orakzai, Qureshi, "
        "Malik, Chaudhry, Butt, Awan, Abbasi, Siddiqui, Sheikh, Baloch, Jatoi, Rajput, Mughal, "
        "Ansari, Hashmi, Bukhari, Gillani, Kakar, Marwat, Wazir, Mahsud, Swati, Tanoli, Jadoon, "
        "Hussain, Iqbal"
    ),
    disability_body="NADRA",
)

_LUSOPHONE = NameBook(
    male=_names(
        "João, José, António, Manuel, Carlos, Paulo, Pedro, Francisco, Luís, Jorge, Domingos, "
        "Armando, Nelson, Adilson, Edson, Ivanildo, Hélder, Márcio, Silvino, Daniel, Fernando, "
        "Rui, Alcides, Júlio, Mário, Evandro"
    ),
    female=_names(
        "Maria, Ana, Rosa, Joana, Fátima, Teresa, Luísa, Conceição, Isabel, Antónia, Helena, "
        "Marta, Sónia, Carla, Celeste, Filomena, Ivone, Jacinta, Lurdes, Madalena, Nilza, "
        "Odete, Paula, Sandra, Vera, Zulmira"
    ),
    family=_names(
        "Silva, Santos, Gomes, Lopes, Fernandes, Tavares, Monteiro, Pereira, Rodrigues, Semedo, "
        "Varela, Correia, Moreira, Furtado, Delgado, Fortes, Andrade, Barbosa, Cabral, Duarte, "
        "Évora, Mendes, Ramos, Sousa, Brito, Cardoso, Almeida, Oliveira, Costa, Martins"
    ),
    disability_body="Junta de Saúde",
)

_HISPANIC = NameBook(
    male=_names(
        "José, Juan, Carlos, Luis, Jorge, Miguel, Francisco, Pedro, Mario, Óscar, Roberto, "
        "Víctor, Rafael, Julio, Ramón, Édgar, Wilmer, Nelson, Marvin, Santos, Ángel, Fernando, "
        "Héctor, Rigoberto, Osmín, Cristian"
    ),
    female=_names(
        "María, Ana, Rosa, Carmen, Gladys, Sandra, Marta, Blanca, Reina, Sonia, Dora, Elena, "
        "Lucía, Teresa, Silvia, Yesenia, Karla, Glenda, Cecilia, Lourdes, Patricia, Mirna, "
        "Ingrid, Norma, Delmy, Fátima"
    ),
    family=_names(
        "Hernández, López, Martínez, García, Rodríguez, González, Pérez, Ramírez, Flores, Cruz, "
        "Reyes, Morales, Rivera, Sánchez, Torres, Mejía, Díaz, Romero, Aguilar, Castillo, "
        "Benítez, Ortiz, Ayala, Vásquez, Orellana, Gómez, Duarte, Giménez, Villalba, Acosta"
    ),
    disability_body="Ministerio de Salud",
)

_FRANCOPHONE_WEST_AFRICA = NameBook(
    male=_names(
        "Mamadou, Moussa, Ibrahima, Abdoulaye, Ousmane, Amadou, Cheikh, Modou, Souleymane, "
        "Issa, Koffi, Kodjo, Yao, Komlan, Jean, Paul, Emmanuel, Boubacar, Seydou, Lamine, "
        "Aliou, Idrissa, Hamidou, Salif, Djibril"
    ),
    female=_names(
        "Fatou, Aminata, Awa, Mariama, Aïssatou, Khady, Ndeye, Coumba, Binta, Adjoa, Akossiwa, "
        "Ama, Afi, Rokia, Hadiza, Zeinabou, Salamatou, Marie, Jeanne, Hawa, Kadiatou, Oumou, "
        "Ramatou, Safiatou, Yacine"
    ),
    family=_names(
        "Diop, Ndiaye, Fall, Sow, Diallo, Ba, Sarr, Faye, Gueye, Mbaye, Cissé, Touré, Traoré, "
        "Koné, Issoufou, Moumouni, Agbeko, Mensah, Amouzou, Kossi, Tchakpele, Nana, Fotso, "
        "Mbarga, Ngono, Atangana"
    ),
    disability_body="Commission médicale",
)

_PHILIPPINES = NameBook(
    male=_names(
        "Jose, Juan, Mark, John Paul, Rodrigo, Ramon, Eduardo, Roberto, Jericho, Carlo, Rommel, "
        "Arnel, Noel, Jomar, Reynaldo, Danilo, Ernesto, Joel, Renato, Alvin"
    ),
    female=_names(
        "Maria, Rosalie, Marites, Jennifer, Maricel, Lorna, Gemma, Analyn, Cristina, Rowena, "
        "Josephine, Imelda, Divina, Liza, Jocelyn, Teresita, Mary Grace, Rhea, Aileen, Nenita"
    ),
    family=_names(
        "Santos, Reyes, Cruz, Bautista, Ocampo, Garcia, Mendoza, Torres, Dela Cruz, Villanueva, "
        "Ramos, Aquino, Castillo, Flores, Gonzales, Navarro, Domingo, Mercado, Pascual, "
        "Salazar, Manalo, Tolentino"
    ),
    disability_body="PDAO",
)

_SOUTHERN_AFRICA = NameBook(
    male=_names(
        "Chisomo, Mphatso, Kondwani, Chikondi, Mwila, Chanda, Bwalya, Mulenga, Joseph, Peter, "
        "Moses, Isaac, Francis, Godfrey, Lazarus, Felix, Alberto, Armando, Celestino, Zacarias"
    ),
    female=_names(
        "Chimwemwe, Tiyamike, Thoko, Mercy, Grace, Esther, Ruth, Agnes, Mutale, Natasha, "
        "Precious, Memory, Alice, Esperança, Luísa, Albertina, Rosa, Felismina, Catarina, Lúcia"
    ),
    family=_names(
        "Banda, Phiri, Mwale, Tembo, Zulu, Mbewe, Chirwa, Nyirenda, Kamanga, Mulenga, Bwalya, "
        "Chanda, Sitoe, Macuácua, Cossa, Mabunda, Nhantumbo, Chauque, Mondlane, Tivane"
    ),
    disability_body="Ministry of Health",
)

_INDIA = NameBook(
    male=_names(
        "Ramesh, Suresh, Rajesh, Mahesh, Ravi, Sunil, Anil, Vijay, Sanjay, Ashok, Manoj, Raju, "
        "Gurpreet, Harpreet, Mohan, Krishna, Arjun, Amit, Deepak, Prakash"
    ),
    female=_names(
        "Sunita, Anita, Geeta, Rekha, Savitri, Lakshmi, Pooja, Priya, Kavita, Meena, Sarita, "
        "Asha, Usha, Manjeet, Kamla, Radha, Shanti, Neha, Parvati, Jaswinder"
    ),
    family=_names(
        "Kumar, Singh, Sharma, Verma, Yadav, Gupta, Patel, Devi, Kaur, Das, Reddy, Rao, Nair, "
        "Mishra, Pandey, Chauhan, Joshi, Thakur, Gill, Sandhu"
    ),
    disability_body="UDID medical board",
)

_ARABIC = NameBook(
    male=_names(
        "Mohammad, Ahmad, Mahmoud, Khaled, Omar, Yousef, Ibrahim, Ali, Hassan, Mustafa, Samer, "
        "Nasser, Fadi, Tareq, Rami, Jamal, Hani, Ziad"
    ),
    female=_names(
        "Fatima, Aisha, Maryam, Huda, Rania, Lina, Samira, Nour, Amal, Hanan, Salma, Reem, "
        "Dina, Asma, Manal, Ruba, Yasmin, Layla"
    ),
    family=_names(
        "Abu Khalil, Haddad, Khalil, Nasser, Saleh, Hamdan, Odeh, Barghouti, Shaheen, Qasem, "
        "Awad, Darwish, Mansour, Jaber, Hijazi, Zaid"
    ),
    disability_body="Ministry of Health",
)

_SOUTHEAST_ASIA = NameBook(
    male=_names(
        "Minh, Hùng, Dũng, Tuấn, Sokha, Dara, Vuthy, Somchai, Bounmy, Khamphet, Agus, Budi, "
        "Eko, Joaquim, Aung, Kyaw, Zaw, Thura"
    ),
    female=_names(
        "Lan, Hoa, Mai, Linh, Sopheap, Srey, Chanthy, Noy, Keo, Siti, Dewi, Sri, Rina, Ana, "
        "Aye, Hnin, Thida, Su"
    ),
    family=_names(
        "Nguyễn, Trần, Lê, Phạm, Sok, Chea, Keo, Phommachanh, Vongsa, Santoso, Wijaya, Pratama, "
        "da Costa, Soares, Ximenes, Pereira"
    ),
    disability_body="Ministry of Health",
)

_CENTRAL_ASIA = NameBook(
    male=_names(
        "Azamat, Bakyt, Nurlan, Ermek, Talant, Aibek, Kubanychbek, Almaz, Marat, Ruslan, Tilek, "
        "Daniiar"
    ),
    female=_names(
        "Aigul, Gulnara, Ainura, Cholpon, Nazira, Jyldyz, Asel, Meerim, Aizhan, Gulmira, "
        "Elmira, Nurzhan"
    ),
    family=_names(
        "Asanov, Bakirov, Osmonov, Toktogulov, Abdrakhmanov, Mamatov, Sadykov, Jumabaev, "
        "Sultanov, Isakov, Usenov, Kadyrov"
    ),
    disability_body="MSEK",
)

# Myanmar names carry no family name: the registry stores an empty one.
_MYANMAR = NameBook(
    male=_names("Aung Aung, Kyaw Min, Zaw Win, Thura Aung, Min Thu, Htet Aung, Ko Ko"),
    female=_names("Aye Aye, Hnin Wai, Thida Win, Su Su, Ei Mon, Khin Myo, Nilar"),
    family=(),
    disability_body="Department of Social Welfare",
)

NAME_BOOKS: dict[str, NameBook] = {
    "PK": _PAKISTAN,
    "CV": _LUSOPHONE,
    "MZ": _SOUTHERN_AFRICA,
    "TL": _SOUTHEAST_ASIA,
    "MW": _SOUTHERN_AFRICA,
    "ZM": _SOUTHERN_AFRICA,
    "VN": _SOUTHEAST_ASIA,
    "KH": _SOUTHEAST_ASIA,
    "ID": _SOUTHEAST_ASIA,
    "LA": _SOUTHEAST_ASIA,
    "MM": _MYANMAR,
    "KG": _CENTRAL_ASIA,
    "PH": _PHILIPPINES,
    "PY": _HISPANIC,
    "SV": _HISPANIC,
    "HN": _HISPANIC,
    "SN": _FRANCOPHONE_WEST_AFRICA,
    "TG": _FRANCOPHONE_WEST_AFRICA,
    "CM": _FRANCOPHONE_WEST_AFRICA,
    "NE": _FRANCOPHONE_WEST_AFRICA,
    "IN": _INDIA,
    "PS": _ARABIC,
}


def name_book(country: str) -> NameBook:
    """Return the names used for ``country`` (a generic mix for countries not listed)."""
    return NAME_BOOKS.get(country.upper(), _LUSOPHONE)
