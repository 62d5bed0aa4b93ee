from mediaprep import gsm


def test_basic_characters_cost_one_unit():
    c = gsm.count("Hello @ £5, ÄÖ!")
    assert (c.encoding, c.units) == ("gsm", 15)


def test_extension_table_costs_two_units_each():
    for ch in "€[]{}~^\\|\f":
        assert gsm.count(ch).units == 2, repr(ch)
        assert gsm.count(ch).encoding == "gsm"
    assert gsm.count("a€b").units == 4


def test_one_character_outside_gsm_makes_the_whole_text_unicode():
    c = gsm.count("Price: 5 ₹")
    assert c.encoding == "unicode"
    assert c.non_gsm == "₹"
    assert c.units == 10


def test_unicode_counts_utf16_code_units_so_an_emoji_is_two():
    assert gsm.count("ok 😀").units == 5
    assert gsm.count("ok 😀").characters == 4


def test_lowercase_c_cedilla_and_accents_outside_the_table_switch_to_unicode():
    # GSM 03.38 has Ç (0x09) but not ç, and é but not á.
    assert gsm.count("Ç").encoding == "gsm"
    assert gsm.count("á").encoding == "unicode"
    assert gsm.is_gsm("Ça va") and not gsm.is_gsm("ça va")
