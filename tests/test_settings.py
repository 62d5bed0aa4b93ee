import re

import pytest

from mediaprep import Settings, load_profile
from mediaprep.errors import UsageError

from .conftest import MEDIA


def test_folders_may_be_given_as_strings(tmp_path):
    # Library callers pass str as often as Path; a str profiles_dir crashed with AttributeError.
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\ntitle = "t"\nkind = "provider"\nsource = "s"\n'
        '[media.image]\naccept = ["image/jpeg"]\n[targets.image]\nformat = "jpeg"\n'
    )
    settings = Settings(profiles_dir=str(tmp_path), store_dir=str(tmp_path / "out"))
    assert load_profile("mine", settings).name == "mine"
    assert settings.store_dir == tmp_path / "out"


@pytest.mark.parametrize(
    "change",
    [{"tool_timeout": "5"}, {"max_frames": True}, {"s3_presign_seconds": "60"}, {"store_dir": 5},
     {"image_effort": "quick"}],
)
def test_a_setting_of_the_wrong_type_is_a_usage_error(change):
    # "5" > 0 raised TypeError; True was taken as a frame limit of one.
    name = next(iter(change))
    with pytest.raises(UsageError, match=name):
        Settings(**change)


@pytest.mark.parametrize("call", ["convert", "inspect", "check", "open_store", "load_profile"])
def test_library_calls_refuse_settings_that_are_not_settings(call):
    # A dict of settings crashed deep inside with AttributeError.
    import mediaprep

    args = {"convert": (b"x",), "inspect": (b"x",), "check": ({"slides": []}, "sinch"), "open_store": (),
            "load_profile": ("sinch",)}[call]
    fn = getattr(mediaprep, call)
    with pytest.raises(UsageError, match="settings must be"):
        if call == "load_profile":
            fn(*args, {"store": "local"})
        else:
            fn(*args, settings={"store": "local"})


@pytest.mark.parametrize("source", [None, 5, 1.5])
def test_a_source_that_is_neither_a_path_nor_bytes_is_a_usage_error(source):
    from mediaprep import convert, inspect

    for call in (convert, inspect):
        with pytest.raises(UsageError, match="a source is a path, bytes or a binary file object"):
            call(source)


@pytest.mark.parametrize("call, args, kwargs, says", [
    ("inspect", (b"x",), {"name": 5}, "name is the file name"),
    ("estimate_bytes", ("40000",), {}, "payload_bytes must be"),
    ("estimate_bytes", (-5,), {}, "payload_bytes must be"),
    ("estimate_bytes", (None,), {}, "payload_bytes must be"),
    ("load_message", (5,), {}, "a message file is a path"),
    ("parse_message", ({"slides": []},), {}, "a message to parse is JSON text or bytes"),
    ("verify_url", (b"http://127.0.0.1:9/a.jpg",), {}, "a URL is a str"),
    ("verify_url", ("http://127.0.0.1:9/a.jpg",), {"max_bytes": -1}, "max_bytes must be"),
    ("verify_url", ("http://127.0.0.1:9/a.jpg",), {"expect_mime": 5}, "expect_mime is a type"),
], ids=["inspect-name", "estimate-str", "estimate-negative", "estimate-none", "load-message-int", "parse-message-dict",
        "verify-url-bytes", "verify-url-max-bytes", "verify-url-expect-mime"])
def test_library_calls_refuse_arguments_of_the_wrong_kind(call, args, kwargs, says):
    # Each was a TypeError or AttributeError from deep inside, or (estimate_bytes of -5 and None)
    # a figure: 808 bytes and 0. Refused before any work: verify_url does not look up the address.
    import mediaprep

    with pytest.raises(UsageError, match=says):
        getattr(mediaprep, call)(*args, **kwargs)


@pytest.mark.parametrize("url, says", [
    ("cdn.example.com/mms", "is not an http(s) URL with a host"),
    ("ftp://cdn.example.com/mms", "is not an http(s) URL with a host"),
    ("https://cdn.example.com/mms?sig=1", "has a query or a fragment"),
    ("https://cdn.example.com/mms#top", "has a query or a fragment"),
    ("https://cdn.example.com/my mms", "has a space"),
    ("http://[::1/media", "is not a URL"),
    ("http://127.0.0.1:99999/media", "is not a URL"),
])
def test_a_base_url_that_would_make_broken_links_is_refused(url, says, cli, tmp_path):
    # Each key is put after the base URL: these gave "cdn.example.com/mms/<key>.jpg" (no scheme),
    # "...?sig=1/<key>.jpg" (the key inside the query) and the like, handed back for providers to fetch.
    with pytest.raises(UsageError, match=re.escape(says)):
        Settings(base_url=url)
    r = cli("upload", str(MEDIA / "photo.jpg"), env={"MEDIAPREP_BASE_URL": url, "MEDIAPREP_STORE_DIR": str(tmp_path)})
    assert r.code == 2 and "usage.invalid: base_url" in r.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("prefix", ["/mms/", "../mms/", "media/./mms/", "media//mms/", "mms", "my mms/"])
def test_an_s3_prefix_that_would_make_keys_a_url_cannot_reach_is_refused(prefix):
    # Taken as it was: "../mms/" gave https://host/bucket/../mms/<key>.jpg, which a fetcher that
    # resolves dot segments (curl does) asks for as another key; "/mms/" a doubled slash, which some
    # CDNs fold; "mms" keys such as mms52da....jpg.
    with pytest.raises(UsageError, match="s3_prefix"):
        Settings(s3_prefix=prefix)
    assert Settings(s3_prefix="media/mms-2/").s3_prefix == "media/mms-2/" and Settings(s3_prefix="").s3_prefix == ""


@pytest.mark.parametrize("url", ["https://cdn.example.com/mms/", "http://[::1]:8080/media", "https://cdn.example.com"])
def test_a_base_url_that_serves_is_kept(url):
    assert Settings(base_url=url).base_url == url


def test_max_duration_must_be_a_number():
    from mediaprep import convert

    with pytest.raises(UsageError, match="max_duration"):
        convert(b"x", max_duration="5")


def test_a_misspelt_variable_is_named_with_the_one_it_may_have_meant(tmp_path):
    # MEDIAPREP_STORAGE_DIR was ignored without a word, and the files went to out/media.
    from .conftest import MEDIA, run_cli

    store = tmp_path / "store"
    done = run_cli("upload", str(MEDIA / "photo.jpg"), cwd=tmp_path,
                   env={"MEDIAPREP_STORAGE_DIR": str(store), "MEDIAPREP_QUALITY": "high"})
    assert done.code == 0
    assert ("MEDIAPREP_STORAGE_DIR is not a setting, and is ignored (did you mean MEDIAPREP_STORE_DIR?)"
            in done.stderr)
    assert "MEDIAPREP_QUALITY is not a setting, and is ignored\n" in done.stderr
    assert not store.exists() and any((tmp_path / "out" / "media").iterdir())
    spelt_right = run_cli("upload", str(MEDIA / "photo.jpg"), cwd=tmp_path, env={"MEDIAPREP_STORE_DIR": str(store)})
    assert spelt_right.code == 0 and "warning" not in spelt_right.stderr and any(store.iterdir())
