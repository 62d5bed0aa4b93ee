import json
import os
import socket
import time

import pytest

from mediaprep import Settings, inspect
from mediaprep.errors import (
    NoSuchBucket,
    StorageDenied,
    StorageFailed,
    StorageTimeout,
    StorageUnavailable,
    UrlRefused,
    UrlUnreachable,
    UsageError,
)
from mediaprep.storage import content_key, open_store
from mediaprep.storage.local import LocalStore
from mediaprep.storage.verify import verify_url

from .conftest import BROKEN, MEDIA
from .servers import FaultProxy, MediaHost, free_port

BUCKET = "mms-media"


@pytest.fixture(scope="module", autouse=True)
def aws_env():
    saved = dict(os.environ)
    # Explicit test credentials: boto3 must never go looking for real ones (or the metadata service).
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def s3_server(aws_env):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    # Public reads, as a media bucket behind a base URL has (or a CDN in front of it gives).
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{BUCKET}/*"}],
    }))
    yield endpoint
    server.stop()


@pytest.fixture
def proxy(s3_server):
    p = FaultProxy(int(s3_server.rsplit(":", 1)[1]))
    yield p
    p.close()


def s3_settings(endpoint: str, **overrides) -> Settings:
    values = dict(
        store="s3", s3_bucket=BUCKET, s3_endpoint_url=endpoint, s3_addressing="path", s3_prefix="t/",
        base_url=f"{endpoint}/{BUCKET}", s3_timeout=2.0, s3_max_attempts=3, allow_private_urls=True,
    )
    values.update(overrides)
    return Settings(**values)


def raw_client(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


MEDIA_FILES = ["photo.jpg", "still.gif", "speech.mp3", "clip.mp4", "clip.3gp", "contact.vcf", "event.ics", "flyer.pdf"]


def test_uploaded_fixtures_are_served_the_way_providers_fetch_them(s3_server):
    settings = s3_settings(s3_server)
    store = open_store(settings)
    for name in MEDIA_FILES:
        data = (MEDIA / name).read_bytes()
        mime = inspect(data).mime
        stored = store.put(data, mime)
        assert stored.key == content_key(data, mime, "t/") and stored.created
        head = raw_client(s3_server).head_object(Bucket=BUCKET, Key=stored.key)
        assert head["ContentLength"] == len(data) and head["ContentType"] == mime
        assert head["CacheControl"] == settings.cache_control
        report = verify_url(stored.url, settings=settings)
        assert report.ok, (name, report.problems)
        assert report.content_length == report.received_bytes == len(data) and not report.chunked


def test_a_repeated_upload_is_a_no_op(s3_server, proxy):
    store = open_store(s3_settings(proxy.endpoint))
    data = (MEDIA / "scan.bmp").read_bytes()
    first = store.put(data, "image/bmp")
    proxy.requests.clear()
    second = store.put(data, "image/bmp")
    assert first.key == second.key and first.created and not second.created
    assert [r.split()[0] for r in proxy.requests] == ["HEAD"]


def test_presigned_urls_pass_the_fetch_check(s3_server):
    settings = s3_settings(s3_server, s3_presign_seconds=600)
    stored = open_store(settings).put((MEDIA / "photo.webp").read_bytes(), "image/webp")
    assert "X-Amz-Signature=" in stored.url and "X-Amz-Expires=600" in stored.url
    assert verify_url(stored.url, settings=settings).ok


def test_retries_survive_5xx_and_dropped_connections(s3_server, proxy):
    store = open_store(s3_settings(proxy.endpoint))
    data = (MEDIA / "photo.tiff").read_bytes()
    proxy.faults.extend([("status", 500), ("drop",), ("status", 503)])
    stored = store.put(data, "image/tiff")
    assert stored.created and not proxy.faults
    assert raw_client(s3_server).head_object(Bucket=BUCKET, Key=stored.key)["ContentLength"] == len(data)


def test_a_server_that_stays_slow_is_a_timeout_and_nothing_is_left_under_the_key(s3_server, proxy):
    store = open_store(s3_settings(proxy.endpoint, s3_timeout=0.5, s3_max_attempts=2))
    data = (MEDIA / "alpha.png").read_bytes()
    proxy.faults.extend([("slow", 0)] + [("stall", 1.5)] * 4)  # HEAD answers, then every PUT hangs
    with pytest.raises(StorageTimeout) as e:
        store.put(data, "image/png")
    assert e.value.code == "storage.timeout"
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError):
        raw_client(s3_server).head_object(Bucket=BUCKET, Key=content_key(data, "image/png", "t/"))


def test_server_down_is_unavailable_quickly():
    import time

    store = open_store(s3_settings(f"http://127.0.0.1:{free_port()}", s3_max_attempts=2))
    start = time.monotonic()
    with pytest.raises(StorageUnavailable):
        store.put(b"GIF89a...", "image/gif")
    assert time.monotonic() - start < 20


def test_access_denied_and_missing_bucket_are_coded(s3_server, proxy):
    store = open_store(s3_settings(proxy.endpoint))
    proxy.faults.extend([("status", 403)] * 6)
    with pytest.raises(StorageDenied):
        store.put(b"BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", "text/vcard")
    proxy.faults.clear()
    with pytest.raises(NoSuchBucket):
        open_store(s3_settings(s3_server, s3_bucket="no-such-bucket")).put(b"x" * 10, "text/plain")


def test_no_credentials_and_a_bad_endpoint_are_coded_errors_not_tracebacks(cli, s3_server):
    # Both escaped as botocore's own exceptions with a traceback: NoCredentialsError from the first
    # request, and ValueError("Invalid endpoint") from making the client. (A new process: boto3's
    # default session keeps the credentials it found.)
    env = {"MEDIAPREP_STORE": "s3", "MEDIAPREP_S3_BUCKET": BUCKET, "MEDIAPREP_S3_ENDPOINT_URL": s3_server,
           "MEDIAPREP_S3_ADDRESSING": "path", "MEDIAPREP_S3_PREFIX": "no-credentials/",
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    r = cli("upload", str(MEDIA / "contact.vcf"), "--json", env=env)
    assert r.code == 1 and "Traceback" not in r.stderr
    error = r.json()[0]["error"]
    assert error["code"] == "storage.denied" and "AWS_ACCESS_KEY_ID" in error["message"]
    assert "Contents" not in raw_client(s3_server).list_objects_v2(Bucket=BUCKET, Prefix="no-credentials/")
    r = cli("upload", str(MEDIA / "contact.vcf"), env={**env, "MEDIAPREP_S3_ENDPOINT_URL": "127.0.0.1:9000"})
    assert r.code == 2 and "Traceback" not in r.stderr and "usage.invalid" in r.stderr and "Invalid endpoint" in r.stderr


def test_a_local_store_that_cannot_be_written_is_a_storage_failure(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(StorageFailed):
        LocalStore(tmp_path / "a-file", "http://127.0.0.1:8080/media").put((MEDIA / "photo.jpg").read_bytes(),
                                                                           "image/jpeg")


def test_bytes_are_stored_only_under_their_own_type(tmp_path, s3_server):
    # A caller's type was stored as given: HTML put as image/jpeg was served as image/jpeg, under a
    # .jpg key, and image/jpg (a spelling providers do not all take) under a .bin key.
    photo = (MEDIA / "photo.jpg").read_bytes()
    keys = []
    for store in (LocalStore(tmp_path, "http://127.0.0.1:8080/media"),
                  open_store(s3_settings(s3_server, s3_prefix="types/"))):
        with pytest.raises(UsageError, match="the bytes are text/html, not image/jpeg"):
            store.put(b"<!DOCTYPE html><html><body>Not found</body></html>", "image/jpeg")
        with pytest.raises(UsageError, match="the bytes are image/jpeg, not image/gif"):
            store.put(photo, "image/gif")
        with pytest.raises(UsageError, match="data to store is bytes"):
            store.put(photo.decode("latin-1"), "image/jpeg")
        stored = store.put(bytearray(photo), "IMAGE/JPG")
        assert stored.mime == "image/jpeg" and stored.key.endswith(".jpg") and stored.bytes == len(photo)
        keys.append(stored.key)
    assert [p.name for p in tmp_path.iterdir()] == [keys[0]]
    head = raw_client(s3_server).head_object(Bucket=BUCKET, Key=keys[1])
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(photo)
    listed = raw_client(s3_server).list_objects_v2(Bucket=BUCKET, Prefix="types/")["Contents"]
    assert [o["Key"] for o in listed] == [keys[1]]


def test_local_store_writes_once_and_builds_urls(tmp_path):
    store = LocalStore(tmp_path, "https://media.example.com/mms/")
    data = (MEDIA / "photo.jpg").read_bytes()
    first, second = store.put(data, "image/jpeg"), store.put(data, "image/jpeg")
    assert first.created and not second.created
    assert first.url == f"https://media.example.com/mms/{first.key}" and first.key.endswith(".jpg")
    assert (tmp_path / first.key).read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == [first.key]  # no temporary files left


# ---------------------------------------------------------------- the fetch check


@pytest.fixture(scope="module")
def host():
    h = MediaHost()
    jpeg = (MEDIA / "photo.jpg").read_bytes()
    h.routes.update({
        "/good.jpg": (200, {"Content-Type": "image/jpeg"}, jpeg, "normal"),
        "/chunked.jpg": (200, {"Content-Type": "image/jpeg"}, jpeg, "chunked"),
        "/octet.jpg": (200, {"Content-Type": "application/octet-stream"}, jpeg, "normal"),
        "/lying.jpg": (200, {"Content-Type": "image/png"}, jpeg, "normal"),
        "/short.jpg": (200, {"Content-Type": "image/jpeg"}, jpeg[:1000], f"length={len(jpeg)}"),
        "/moved.jpg": (302, {"Location": "/good.jpg"}, b"", "normal"),
        "/drip.jpg": (200, {"Content-Type": "image/jpeg"}, jpeg, "drip"),
    })
    yield h
    h.close()


LOOPBACK_OK = Settings(allow_private_urls=True, url_timeout=3)


@pytest.mark.parametrize(
    "path, codes",
    [
        ("/good.jpg", set()),
        ("/chunked.jpg", {"url.chunked", "url.no_length"}),
        ("/octet.jpg", {"url.octet_stream"}),
        ("/lying.jpg", {"url.type_mismatch"}),
        ("/short.jpg", {"url.length_mismatch"}),
        ("/moved.jpg", {"url.status"}),
        ("/missing.jpg", {"url.status"}),
    ],
)
def test_fetch_check_names_what_a_provider_would_reject(host, path, codes):
    report = verify_url(host.url(path), settings=LOOPBACK_OK)
    assert {p.code for p in report.problems} == codes
    assert report.ok == (not codes)


def test_fetch_check_applies_the_size_limit(host):
    report = verify_url(host.url("/good.jpg"), max_bytes=1000, settings=LOOPBACK_OK)
    assert {p.code for p in report.problems} == {"url.too_big"}


def test_fetch_check_applies_a_profile(host):
    assert verify_url(host.url("/good.jpg"), profile="clicksend", settings=LOOPBACK_OK).ok
    legacy = verify_url(host.url("/good.jpg"), profile="legacy-30k", settings=LOOPBACK_OK)
    assert [p.code for p in legacy.problems] == ["url.too_big"] and "30000" in legacy.problems[0].message


def test_fetch_check_compares_the_bytes_with_the_type_expected(host):
    # After an upload the caller knows what it stored: other bytes at the URL (a stale CDN, a wrong key) show.
    assert verify_url(host.url("/good.jpg"), expect_mime="image/jpeg", settings=LOOPBACK_OK).ok
    other = verify_url(host.url("/good.jpg"), expect_mime="image/gif", settings=LOOPBACK_OK)
    assert [p.code for p in other.problems] == ["url.unexpected_content"] and not other.ok


def test_a_server_that_drips_its_answer_is_cut_off_at_the_timeout(host):
    # A byte every 0.2 s never trips a per-read timeout; the whole fetch has one deadline.
    start = time.monotonic()
    with pytest.raises(UrlUnreachable) as e:
        verify_url(host.url("/drip.jpg"), settings=LOOPBACK_OK.with_(url_timeout=1))
    assert time.monotonic() - start < 4 and "within 1 s" in e.value.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.jpg", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/a.jpg",
                                 "ftp://example.com/a.jpg", "http://[::1/x.jpg", "http://example.com:99999/x.jpg"])
def test_urls_inside_the_network_are_refused_before_connecting(url):
    with pytest.raises(UrlRefused):
        verify_url(url, settings=Settings(url_timeout=1))


@pytest.mark.parametrize("url", [
    "http://100.100.100.200/latest/meta-data/",  # shared address space: Alibaba Cloud's metadata service
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # 169.254.169.254 through NAT64
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",  # 169.254.169.254 through 6to4
    "http://[::ffff:10.1.2.3]/a.jpg",  # IPv4-mapped
])
def test_addresses_that_lead_inside_are_refused_too(url, monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError(f"a connection was attempted to {args[0]}")

    # Should the check let one through, the test fails here instead of reaching out.
    monkeypatch.setattr(socket, "create_connection", no_connection)
    with pytest.raises(UrlRefused):
        verify_url(url, settings=Settings(url_timeout=1))


def test_cli_verify_url_and_upload(cli, host, tmp_path):
    env = {"MEDIAPREP_ALLOW_PRIVATE_URLS": "1"}
    r = cli("verify-url", host.url("/chunked.jpg"), "--json", env=env)
    assert r.code == 1 and {p["code"] for p in r.json()["problems"]} == {"url.chunked", "url.no_length"}
    assert cli("verify-url", host.url("/good.jpg"), env=env).code == 0
    # A size as a provider writes its limit, as convert --budget takes it.
    r = cli("verify-url", host.url("/good.jpg"), "--max-bytes", "1kB", "--json", env=env)
    assert r.code == 1 and "url.too_big" in {p["code"] for p in r.json()["problems"]}
    assert cli("verify-url", host.url("/good.jpg")).code == 2  # loopback refused by default
    r = cli("upload", str(MEDIA / "photo.jpg"), str(MEDIA / "event.ics"), "--json",
            env={"MEDIAPREP_STORE_DIR": str(tmp_path), "MEDIAPREP_BASE_URL": "https://cdn.example/m"})
    assert r.code == 0
    out = r.json()
    assert [o["mime"] for o in out] == ["image/jpeg", "text/calendar"]
    assert all(o["url"].startswith("https://cdn.example/m/") and (tmp_path / o["key"]).exists() for o in out)


def test_a_servers_control_characters_are_printed_as_escapes(cli, host):
    # A hostile server's Content-Type went to the terminal as it came: this one retitles it and
    # clears the screen.
    host.routes["/hostile.jpg"] = (200, {"Content-Type": "text/x\x1b]0;owned\x07\x1b[2J"}, b"hi", "normal")
    r = cli("verify-url", host.url("/hostile.jpg"), env={"MEDIAPREP_ALLOW_PRIVATE_URLS": "1"})
    assert r.code == 1 and "Content-Type text/x\\x1b]0;owned\\x07\\x1b[2J," in r.stdout
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr


def test_cli_upload_stores_what_convert_pipes_to_it(tmp_path):
    # convert ... -o - | mediaprep upload -: "-" was a missing file, where inspect and convert read it.
    import subprocess
    import sys

    from mediaprep import convert

    env = {**os.environ, "MEDIAPREP_STORE_DIR": str(tmp_path / "media"), "MEDIAPREP_BASE_URL": "https://cdn.example/m"}
    command = [sys.executable, "-m", "mediaprep"]
    converting = subprocess.Popen([*command, "convert", str(MEDIA / "photo.jpg"), "-o", "-", "--budget", "30000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp_path)
    upload = subprocess.run([*command, "upload", "-", "--json"], stdin=converting.stdout, capture_output=True,
                            check=False, cwd=tmp_path, env=env, timeout=120)
    converting.stdout.close()
    assert converting.wait(timeout=120) == 0 and upload.returncode == 0, upload.stderr
    [row] = json.loads(upload.stdout)
    stored = (tmp_path / "media" / row["key"]).read_bytes()
    assert row["path"] == "-" and row["mime"] == "image/jpeg" and row["bytes"] == len(stored)
    assert stored == convert(MEDIA / "photo.jpg", budget=30000).data


def test_cli_upload_keeps_going_past_a_bad_file(cli, tmp_path):
    # One missing and one damaged file in the list: the good ones are still stored and reported.
    missing = tmp_path / "missing.jpg"
    r = cli("upload", str(MEDIA / "photo.jpg"), str(missing), str(BROKEN / "truncated.jpg"), str(MEDIA / "event.ics"),
            "--json", env={"MEDIAPREP_STORE_DIR": str(tmp_path / "store")})
    assert r.code == 2
    rows = r.json()
    assert [row.get("error", {}).get("code") for row in rows] == [None, "input.not_found", "input.corrupt", None]
    assert rows[2]["error"]["provider_code"] == "E341"
    assert all((tmp_path / "store" / rows[i]["key"]).exists() for i in (0, 3))


def test_cli_upload_stops_trying_a_store_that_is_down(cli, tmp_path):
    # Nothing listens on the port: the first file finds out, the rest are not sent to wait out the same timeouts.
    env = {"MEDIAPREP_STORE": "s3", "MEDIAPREP_S3_BUCKET": BUCKET, "MEDIAPREP_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
           "MEDIAPREP_BASE_URL": "https://cdn.example/m", "MEDIAPREP_S3_TIMEOUT": "1", "MEDIAPREP_S3_MAX_ATTEMPTS": "1"}
    r = cli("upload", str(MEDIA / "photo.jpg"), str(MEDIA / "event.ics"), "--json", env=env)
    assert r.code == 1
    first, second = r.json()
    assert first["error"]["code"] == second["error"]["code"] == "storage.unavailable"
    assert "not uploaded" in second["error"]["message"]


def test_cli_upload_to_s3_with_verify_fetches_what_it_stored(cli, s3_server):
    env = {"MEDIAPREP_STORE": "s3", "MEDIAPREP_S3_BUCKET": BUCKET, "MEDIAPREP_S3_ENDPOINT_URL": s3_server,
           "MEDIAPREP_S3_ADDRESSING": "path", "MEDIAPREP_S3_PREFIX": "cli/", "MEDIAPREP_BASE_URL": f"{s3_server}/{BUCKET}",
           "MEDIAPREP_ALLOW_PRIVATE_URLS": "1"}
    r = cli("upload", str(MEDIA / "photo.jpg"), str(MEDIA / "speech.mp3"), str(MEDIA / "audio-only.mp4"), "--verify",
            "--json", env=env)
    assert r.code == 0, r.stderr
    rows = r.json()
    # An mp4 of sound alone is served as audio/mp4, its true type; libmagic, reading only the
    # container, says video/mp4 of the same bytes, which the fetch check takes as the same type.
    assert [row["mime"] for row in rows] == ["image/jpeg", "audio/mpeg", "audio/mp4"]
    assert [row["verify"]["sniffed_mime"] for row in rows] == ["image/jpeg", "audio/mpeg", "video/mp4"]
    for row in rows:
        assert row["key"].startswith("cli/") and row["verify"]["ok"], row
        assert row["verify"]["content_length"] == row["bytes"]
        assert row["verify"]["content_type"] == row["mime"]
