"""`make scale`: Carreau on two app servers, one worker, one PostgreSQL and one S3 API.

    .venv/bin/python tests/scale.py [--keep]

Creates its own PostgreSQL database (SCALE_DATABASE_URL names it, `carreau_scale` on the local
server by default; dropped first if it exists, and at the end unless `--keep`), starts a
moto_server (S3 API) on a free loopback port with its own bucket, migrates, adds a staff member,
a project and a few thousand organisations, then starts two gunicorn app servers and one
`db_worker`, all with production settings (DEBUG off, one shared SECRET_KEY, ALLOWED_HOSTS) and
the files on S3. One simulated person then alternates between the two servers, request after
request, as a load balancer without stickiness would send them:

- logs in (the login page from one server, the form posted to the other: CSRF and session work
  across both);
- uploads an image as a deliverable version through the real form, downloads it through the
  other server (identical bytes), and waits for its thumbnail, made by the worker;
- exports the organisation list (above the export threshold, lowered for the run: a job),
  follows the job on one server and downloads the workbook through the other;
- logs out on one server and is logged out on the other.

Prints a short report and exits non-zero on any failed check, any answer of 500 or more, or a
traceback in a server's log. Run by CI after the PostgreSQL tests.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://carreau:carreau-ci@127.0.0.1:5432/carreau_scale"
ORGANISATIONS = 3000
EXPORT_SYNC_MAX_ROWS = 100
USERNAME, PASSWORD = "scale-staff", "scale-" + secrets.token_urlsafe(12)
JOB_WAIT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Processes ------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback (most recent call last)")


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and commands
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Process(name=name, popen=popen, log=log)


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and commands
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"manage.py {args[0]} failed (exit {done.returncode}).")
    return done.stdout


def wait_for(port: int, path: str, *, seconds: float, process: Process) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise SystemExit(f"{process.name} stopped at start:\n{process.log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers={"Host": "127.0.0.1"})
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{process.name} did not answer on port {port} within {seconds:.0f} s.")


# The database ---------------------------------------------------------------------------------


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    """(Re)create the run's own database, connected to the server's `postgres` database."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise SystemExit(f"SCALE_DATABASE_URL must name a plain database, got {name!r}.")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


SETUP = f"""
from django.db import transaction
from crm.models import Organisation, Role
from tests.factories import OrganisationFactory, ProjectFactory, TerritoryFactory, UserFactory

with transaction.atomic():
    UserFactory(username={USERNAME!r}, role=Role.STAFF, first_name="Camille",
                last_name="Duval", password={PASSWORD!r})
    project = ProjectFactory(title="Projet des deux serveurs")
    territory = TerritoryFactory()
    Organisation.objects.bulk_create(
        OrganisationFactory.build(territory=territory) for _ in range({ORGANISATIONS} - 1)
    )
print(project.pk, Organisation.objects.count())
"""


# The person -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    server: str
    ms: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Person:
    """A browser behind a load balancer that alternates between the servers: its cookies, its
    requests, what each server answered."""

    servers: dict[str, int]
    cookies: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    turn: int = 0

    def next_server(self) -> str:
        names = list(self.servers)
        name = names[self.turn % len(names)]
        self.turn += 1
        return name

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str = "",
        server: str = "",
    ) -> Answer:
        server = server or self.next_server()
        headers = {
            "Host": "127.0.0.1",
            # As behind the TLS proxy of production: the servers redirect plain HTTP.
            "X-Forwarded-Proto": "https",
            "Accept-Language": "fr",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["Origin"] = "https://127.0.0.1"
            headers["Referer"] = f"https://127.0.0.1{path}"
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection("127.0.0.1", self.servers[server], timeout=60)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        answer = Answer(
            response.status, response.headers, data, server, (time.perf_counter() - started) * 1e3
        )
        for raw in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(raw).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        self.answers.append(answer)
        return answer

    def get(self, path: str, *, server: str = "") -> Answer:
        return self.request("GET", path, server=server)

    def post(self, path: str, fields: dict[str, str], *, server: str = "") -> Answer:
        return self.request(
            "POST",
            path,
            body=urlencode(fields).encode(),
            content_type="application/x-www-form-urlencoded",
            server=server,
        )

    def post_multipart(
        self,
        path: str,
        fields: dict[str, str],
        files: dict[str, tuple[str, str, bytes]],
        *,
        server: str = "",
    ) -> Answer:
        boundary = uuid.uuid4().hex
        out = io.BytesIO()
        for name, value in fields.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        for name, (filename, content_type, data) in files.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            )
            out.write(data + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
        return self.request(
            "POST",
            path,
            body=out.getvalue(),
            content_type=f"multipart/form-data; boundary={boundary}",
            server=server,
        )


def upload(
    person: Person,
    check: Check,
    project: int,
    form_server: str,
    file: tuple[str, str, bytes],
) -> str:
    """Upload `file` as a new deliverable version through the real form, served by
    `form_server` and posted to the other; the address of the new version's file."""
    path = f"/projects/{project}/deliverables/new/"
    form = person.get(path, server=form_server)
    check.that(form.status == 200, f"{form_server} serves the upload form", f"status {form.status}")
    before = set(
        re.findall(rf"/projects/{project}/versions/\d+/", person.get(f"/projects/{project}/").text)
    )
    answer = person.post_multipart(
        path,
        {"csrfmiddlewaretoken": csrf_token(form), "kind": "plan", "title": file[0]},
        {"file": file},
        server=other(form_server),
    )
    check.that(
        answer.status == 302,
        f"{answer.server} stores the upload of {file[0]} (a deliverable version, on S3)",
        f"status {answer.status}: {answer.text[:300]}",
    )
    detail = person.get(f"/projects/{project}/", server=form_server)
    new = set(re.findall(rf"/projects/{project}/versions/\d+/", detail.text)) - before
    check.that(
        detail.status == 200 and len(new) == 1,
        f"{form_server} lists the version uploaded through {answer.server}",
        f"status {detail.status}, new links {sorted(new)}",
    )
    return new.pop()


def pdf_document() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"Plan masse {uuid.uuid4()}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def csrf_token(answer: Answer) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', answer.text)
    if not found:
        raise Check.Failed(f"no CSRF token in the page from {answer.server}")
    return found.group(1)


def other(server: str) -> str:
    return "B" if server == "A" else "A"


class Check:
    """The run's checks: each a sentence, passed or failed with the reason."""

    class Failed(Exception):
        pass

    def __init__(self) -> None:
        self.results: list[tuple[bool, str, str]] = []

    def that(self, condition: bool, sentence: str, why: str = "") -> None:
        self.results.append((bool(condition), sentence, "" if condition else why))
        if not condition:
            raise Check.Failed(f"{sentence}: {why}")


def png_image(seed: int) -> bytes:
    """A noisy 1200 x 800 PNG: big enough to be worth a thumbnail, unlike any other."""
    import random

    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (1200, 800), (rng.randrange(256), 120, 60))
    pixels = image.load()
    for _ in range(20_000):
        pixels[rng.randrange(1200), rng.randrange(800)] = (
            rng.randrange(256),
            rng.randrange(256),
            rng.randrange(256),
        )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def wait_until(seconds: float, probe):
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def scenario(person: Person, check: Check, project: int, organisations: int) -> None:
    # Login: the form from A, posted to B.
    page = person.get("/login/", server="A")
    check.that(page.status == 200, "A serves the login page", f"status {page.status}")
    answer = person.post(
        "/login/",
        {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(page)},
        server="B",
    )
    check.that(
        answer.status == 302 and "/login/" not in answer.location,
        "B accepts the login form A served (CSRF across servers)",
        f"status {answer.status}, to {answer.location!r}",
    )
    for server in ("A", "B"):
        home = person.get("/", server=server)
        check.that(
            home.status == 200 and "Camille" in home.text,
            f"the session opened on B is logged in on {server}",
            f"status {home.status}",
        )

    # A deliverable version (a PDF, stored as sent): the form from A, posted to B, the file
    # downloaded from each with the bytes that were sent.
    document = pdf_document()
    version_url = upload(
        person, check, project, "A", ("plan-masse.pdf", "application/pdf", document)
    )
    for server in ("A", "B"):
        download = person.get(version_url + "?download=1", server=server)
        check.that(
            download.status == 200 and download.body == document,
            f"{server} serves the uploaded PDF, the bytes sent ({len(document):,} B)",
            f"status {download.status}, {len(download.body):,} B",
        )
    # An image (stored re-encoded, without its metadata): the form from B, posted to A; both
    # servers serve the same bytes, those of the object on S3, and the worker's thumbnail.
    image = png_image(project)
    version_url = upload(person, check, project, "B", ("photo.png", "image/png", image))
    served = [person.get(version_url + "?download=1", server=s) for s in ("A", "B")]
    check.that(
        all(a.status == 200 for a in served)
        and served[0].body == served[1].body
        and served[0].body[:8] == b"\x89PNG\r\n\x1a\n",
        f"A and B serve the uploaded image, identical bytes ({len(served[0].body):,} B)",
        f"statuses {[a.status for a in served]}, {[len(a.body) for a in served]} B",
    )
    thumbnail_url = f"{version_url}thumbnail/"
    state: dict[str, Any] = {}

    def thumbnail_shown() -> bool:
        page = person.get(f"/projects/{project}/").text
        state["placeholder"] = state.get("placeholder") or "Vignette en préparation" in page
        return f'src="{thumbnail_url}"' in page

    shown = wait_until(JOB_WAIT_SECONDS, thumbnail_shown)
    check.that(
        shown,
        "the worker makes the thumbnail, then the project page shows it"
        + (" (a placeholder until then)" if state.get("placeholder") else ""),
        f"no thumbnail after {JOB_WAIT_SECONDS} s",
    )
    thumbnail = person.get(thumbnail_url)
    check.that(
        thumbnail.status == 200 and thumbnail.body[:3] == b"\xff\xd8\xff",
        f"{thumbnail.server} serves the thumbnail (JPEG)",
        f"status {thumbnail.status}",
    )

    # A large export: queued on A, followed on both, downloaded from the other.
    answer = person.get("/organisations/export.xlsx", server="A")
    job_url = answer.location
    check.that(
        answer.status == 302 and job_url.startswith("/files/"),
        f"A queues the export of {organisations:,} organisations as a job",
        f"status {answer.status}, to {job_url!r}",
    )
    download_url = f"{job_url}download/"

    def job_done() -> bool:
        state["page"] = person.get(job_url)
        return download_url in state["page"].text

    started = time.monotonic()
    done = wait_until(JOB_WAIT_SECONDS, job_done)
    job_seconds = time.monotonic() - started
    check.that(
        done,
        f"the worker runs the job; its page shows the download ({job_seconds:.1f} s)",
        f"not done after {JOB_WAIT_SECONDS} s: {state['page'].status}",
    )
    workbook = person.get(download_url, server=other(state["page"].server))
    rows = -1
    if workbook.status == 200:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(workbook.body), read_only=True).active
        rows = 0
        for _row in sheet.iter_rows(values_only=True):
            rows += 1
    check.that(
        rows == organisations + 1,
        f"{workbook.server} serves the workbook: a header and {organisations:,} rows",
        f"status {workbook.status}, {rows} rows",
    )
    listed = person.get("/files/")
    check.that(
        listed.status == 200 and download_url in listed.text,
        f"{listed.server} lists it in Mes fichiers",
        f"status {listed.status}",
    )

    # Logout on A ends the session on B too.
    home = person.get("/", server="A")
    answer = person.post("/logout/", {"csrfmiddlewaretoken": csrf_token(home)}, server="A")
    check.that(answer.status == 302, "A logs out", f"status {answer.status}")
    after = person.get("/", server="B")
    check.that(
        after.status == 302 and "/login/" in after.location,
        "B sends the logged-out person to the login page",
        f"status {after.status}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    options = parser.parse_args()
    database_url = os.environ.get("SCALE_DATABASE_URL") or DEFAULT_DATABASE_URL
    logs = Path(tempfile.mkdtemp(prefix="carreau-scale-"))
    static_root = logs / "static"
    moto_port, ports = free_port(), {"A": free_port(), "B": free_port()}
    bucket = f"carreau-scale-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),  # one key shared by every process
        "ALLOWED_HOSTS": "127.0.0.1",
        "STATIC_ROOT": str(static_root),
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "carreau-scale",
        "AWS_SECRET_ACCESS_KEY": "carreau-scale",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "EXPORT_SYNC_MAX_ROWS": str(EXPORT_SYNC_MAX_ROWS),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    processes: list[Process] = []
    check = Check()
    person = Person(servers=ports)
    started = time.monotonic()
    failure = ""
    try:
        print(f"Database {urlsplit(database_url).path.lstrip('/')}: created, migrated...")
        recreate_database(database_url)
        moto = start(
            "moto_server",
            [str(Path(PYTHON).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            env,
            logs,
        )
        processes.append(moto)
        manage("migrate", "--noinput", "-v0", env=env)
        manage("collectstatic", "--noinput", "-v0", env=env)
        waited = subprocess.run(  # noqa: S603 - our own interpreter and script
            [PYTHON, "tests/wait_for_s3.py", env["AWS_S3_ENDPOINT_URL"]], cwd=ROOT
        )
        if waited.returncode:
            raise SystemExit("moto_server did not start.")
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="carreau-scale",
            aws_secret_access_key="carreau-scale",
        ).create_bucket(Bucket=bucket)
        project, organisations = map(int, manage("shell", "-v0", "-c", SETUP, env=env).split()[-2:])
        for name, port in ports.items():
            processes.append(
                start(
                    f"gunicorn-{name}",
                    [
                        PYTHON,
                        "-m",
                        "gunicorn",
                        "crm.wsgi",
                        "--workers",
                        "2",
                        "--bind",
                        f"127.0.0.1:{port}",
                    ],
                    env,
                    logs,
                )
            )
        processes.append(
            start(
                "worker",
                [PYTHON, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"],
                env,
                logs,
            )
        )
        for process, port in zip(processes[1:3], ports.values(), strict=True):
            wait_for(port, "/healthz", seconds=30, process=process)
        print(
            f"Servers A (:{ports['A']}) and B (:{ports['B']}), 2 gunicorn workers each; one "
            f"db_worker; S3 on moto_server (:{moto_port}); {organisations:,} organisations; "
            f"EXPORT_SYNC_MAX_ROWS={EXPORT_SYNC_MAX_ROWS}."
        )
        try:
            scenario(person, check, project, organisations)
        except Check.Failed as failed:
            failure = str(failed)
    finally:
        for process in reversed(processes):
            process.stop()
        tracebacks = {p.name: p.tracebacks() for p in processes}
        if not options.keep:
            recreate_database(database_url, drop_only=True)

    by_server = Counter(answer.server for answer in person.answers)
    statuses = Counter(answer.status for answer in person.answers)
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    print()
    for passed, sentence, why in check.results:
        print(f"  {'ok  ' if passed else 'FAIL'} {sentence}{f' ({why})' if why else ''}")
    print()
    print(
        f"{len(person.answers)} requests ({', '.join(f'{s}: {n}' for s, n in sorted(by_server.items()))}); "  # noqa: E501
        f"statuses {dict(sorted(statuses.items()))}; {server_errors} server errors; "
        f"tracebacks in logs: {sum(tracebacks.values())}; {time.monotonic() - started:.0f} s."
    )
    problems = []
    if failure:
        problems.append(failure)
    if server_errors:
        problems.append(f"{server_errors} answers of 500 or more")
    if any(tracebacks.values()):
        problems.append(f"tracebacks in {', '.join(n for n, c in tracebacks.items() if c)}")
    if problems:
        print("SCALE RUN FAILED: " + "; ".join(problems) + f". Logs kept in {logs}.")
        return 1
    if not options.keep:
        shutil.rmtree(logs, ignore_errors=True)
    print(f"SCALE RUN PASSED: {len(check.results)} checks, 0 errors.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
