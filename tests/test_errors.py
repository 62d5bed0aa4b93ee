import re

from mediaprep import errors
from mediaprep.errors import MediaprepError


def all_errors():
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, MediaprepError)]


def test_every_error_has_its_own_stable_code():
    codes = [c.code for c in all_errors()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", code) for code in codes)


def test_every_error_is_drawn_in_the_tree_docstring():
    # The docstring is the map people read; an error missing from it is an error nobody finds.
    for cls in all_errors():
        assert cls.__name__ in errors.__doc__
        assert cls.code in errors.__doc__ or cls.code.endswith(".error")


def test_error_dict_carries_code_message_and_provider_code():
    exc = errors.CorruptInput("slide 2 image is damaged", provider_code="E341")
    assert exc.to_dict() == {"code": "input.corrupt", "message": "slide 2 image is damaged", "provider_code": "E341"}
    assert errors.UnsupportedType("x").provider_code == "E629"
    assert str(exc) == "input.corrupt: slide 2 image is damaged"
    # Figures the error carries go with it (a refusal's longest length, a timeout's reason).
    timeout = errors.ToolTimeout("stopped", reason="stalled")
    assert timeout.to_dict() == {"code": "tool.timeout", "message": "stopped", "details": {"reason": "stalled"}}
