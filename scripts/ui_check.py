"""Browser check of the Dagster UI: the lineage it serves is the lineage of the code.

Starts dagster-webserver on 127.0.0.1 (a free port, a temporary DAGSTER_HOME with a copy of
dagster.yaml, so a running UI and its instance are never touched), waits for /server_info and
the code location, and asks its GraphQL API for every asset node with its dependency keys,
group and asset checks. Then it asserts that

- the assets, groups, lineage edges and checks (name, blocking) the UI reports equal those of
  `defs.resolve_asset_graph()`;
- both chains are there in order: the longest path inside the group that ends at
  `<group>/quality_filtered`, for the groups `web` and `personas`, each consecutive pair an edge
  in the UI;
- every stage of both chains has the checks `accounting` and `schema`, the language-purity
  stages `language_purity`, and `personas/persona_rows` `persona_marginals`.

Unless --no-screenshot, headless Chromium then renders the global lineage (lineage.png, one box
per group), the lineage page of each chain's group (lineage-web.png, lineage-personas.png) and
the Checks tab of web/language_filtered (checks-web-language_filtered.png) into --out-dir; each
page must be rendered, not a loading page: its DOM (dumped in the same Chromium run) names
every asset of the chain (every check of the asset), and the PNG has enough colours and enough
non-background pixels. The webserver is stopped in all cases (its whole process group, code server included).

    bash scripts/ui_check.sh [--no-screenshot] [--out-dir out/ui] [--chromium PATH]

Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
CHAIN_GROUPS = ("web", "personas")
CHAIN_END = "quality_filtered"
# What every stage of a chain must be checked for (names from assets/checks.py's docstring).
REQUIRED_CHECKS = {"accounting", "schema"}
REQUIRED_BY_STAGE = {"language_filtered": {"language_purity"}, "quality_filtered": {"language_purity"}}
REQUIRED_BY_KEY = {"personas/persona_rows": {"persona_marginals"}}

LINEAGE_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
      ... on Error { message }
    }
  }
}
"""
WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


@dataclass
class Lineage:
    """Asset key ("web/pii_redacted") -> group, upstream keys, and checks (name -> blocking)."""

    groups: dict[str, str] = field(default_factory=dict)
    deps: dict[str, set[str]] = field(default_factory=dict)
    checks: dict[str, dict[str, bool]] = field(default_factory=dict)

    def edges(self) -> set[tuple[str, str]]:
        return {(up, key) for key, ups in self.deps.items() for up in ups}


def lineage_from_graphql(data: dict) -> Lineage:
    """The `data` of LINEAGE_QUERY's answer as a Lineage; a check error is a ValueError."""
    lineage = Lineage()
    for node in data["assetNodes"]:
        key = "/".join(node["assetKey"]["path"])
        lineage.groups[key] = node["groupName"]
        lineage.deps[key] = {"/".join(dep["path"]) for dep in node["dependencyKeys"]}
        checks = node["assetChecksOrError"]
        if checks["__typename"] != "AssetChecks":
            raise ValueError(f"{key}: {checks['__typename']}: {checks.get('message', '')}")
        lineage.checks[key] = {check["name"]: check["blocking"] for check in checks["checks"]}
    return lineage


def lineage_from_definitions(defs) -> Lineage:
    graph = defs.resolve_asset_graph()
    lineage = Lineage()
    for asset_key in graph.get_all_asset_keys():
        node = graph.get(asset_key)
        key = asset_key.to_user_string()
        lineage.groups[key] = node.group_name
        lineage.deps[key] = {parent.to_user_string() for parent in node.parent_keys}
        lineage.checks[key] = {check_key.name: graph.get_check_spec(check_key).blocking
                               for check_key in graph.get_check_keys_for_assets([asset_key])}
    return lineage


def derive_chains(lineage: Lineage, groups=CHAIN_GROUPS, end: str = CHAIN_END) -> dict[str, list[str]]:
    """Per group, the longest path of assets inside the group that ends at `<group>/<end>`:
    the source's assets and its stages in order, whatever other inputs (models) a stage has."""
    chains = {}
    for group in groups:
        members = {key for key, g in lineage.groups.items() if g == group}
        longest: dict[str, list[str]] = {}

        def path_to(key: str, seen: tuple = (), longest: dict = longest, members: set = members) -> list[str]:
            if key not in longest:
                if key in seen:
                    raise ValueError(f"cycle through {key}")
                ups = [path_to(up, seen + (key,)) for up in sorted(lineage.deps.get(key, ())) if up in members]
                longest[key] = max(ups, key=len, default=[]) + [key]
            return longest[key]

        last = f"{group}/{end}"
        chains[group] = path_to(last) if last in members else []
    return chains


def required_checks(key: str) -> set[str]:
    return REQUIRED_CHECKS | REQUIRED_BY_STAGE.get(key.rsplit("/", 1)[-1], set()) | REQUIRED_BY_KEY.get(key, set())


def compare(ui: Lineage, code: Lineage, chains: dict[str, list[str]]) -> list[str]:
    """What the UI gets wrong against the code and the chain/check expectations; [] when nothing."""
    problems = []
    for key in sorted(code.groups.keys() - ui.groups.keys()):
        problems.append(f"asset {key} is in the code but not in the UI")
    for key in sorted(ui.groups.keys() - code.groups.keys()):
        problems.append(f"asset {key} is in the UI but not in the code")
    for key in sorted(code.groups.keys() & ui.groups.keys()):
        if ui.groups[key] != code.groups[key]:
            problems.append(f"asset {key}: group {ui.groups[key]!r} in the UI, {code.groups[key]!r} in the code")
        if ui.checks[key] != code.checks[key]:
            problems.append(f"asset {key}: checks {ui.checks[key]} in the UI, {code.checks[key]} in the code")
    ui_edges, code_edges = ui.edges(), code.edges()
    for up, down in sorted(code_edges - ui_edges):
        problems.append(f"edge {up} -> {down} is in the code but not in the UI")
    for up, down in sorted(ui_edges - code_edges):
        problems.append(f"edge {up} -> {down} is in the UI but not in the code")
    for group, chain in chains.items():
        if len(chain) < 2:
            problems.append(f"chain {group}: no path inside the group ends at {group}/{CHAIN_END}")
            continue
        for up, down in zip(chain, chain[1:]):
            if (up, down) not in ui_edges:
                problems.append(f"chain {group}: the UI has no edge {up} -> {down}")
        for key in chain:
            missing = required_checks(key) - set(ui.checks.get(key, {}))
            if missing:
                problems.append(f"chain {group}: {key} lacks the checks {sorted(missing)} in the UI")
    return problems


# --- the webserver ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net (Linux)."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                raw = bytes.fromhex(address)
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def post_graphql(base_url: str, query: str, timeout: float = 60) -> dict:
    request = urllib.request.Request(f"{base_url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


class Webserver:
    """dagster-webserver on 127.0.0.1 in its own process group, over a temporary DAGSTER_HOME
    (or the given one); `with Webserver() as server:` waits until the code location is loaded."""

    def __init__(self, workspace: Path = ROOT / "workspace.yaml", dagster_home: Path | None = None,
                 port: int | None = None, start_timeout: float = 120):
        self.workspace, self.dagster_home, self.port = workspace, dagster_home, port or free_port()
        self.start_timeout = start_timeout
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.repo_path = ""  # "<repository>@<location>", as UI URLs name it
        self.started_s = 0.0
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Webserver:
        self._tmp = tempfile.TemporaryDirectory(prefix="ui-check-")
        home = self.dagster_home
        if home is None:
            home = Path(self._tmp.name) / "dagster_home"
            home.mkdir()
            shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        self.log_path = Path(self._tmp.name) / "webserver.log"
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        command = [str(Path(sys.executable).with_name("dagster-webserver")), "-w", str(self.workspace),
                   "-h", "127.0.0.1", "-p", str(self.port)]
        start = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_until_loaded(start)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic() - start
        return self

    def _wait_until_loaded(self, start: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() - start > self.start_timeout:
                raise RuntimeError(f"dagster-webserver not ready after {self.start_timeout:.0f} s:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/server_info", timeout=5) as response:
                    json.load(response)
                workspace = post_graphql(self.base_url, WORKSPACE_QUERY)["workspaceOrError"]
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                time.sleep(0.25)
                continue
            if workspace["__typename"] != "Workspace":
                raise RuntimeError(f"workspace: {workspace.get('message')}")
            entries = workspace["locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                for entry in entries:
                    location = entry["locationOrLoadError"]
                    if location is None or location["__typename"] != "RepositoryLocation":
                        raise RuntimeError(f"code location {entry['name']} failed to load: "
                                           f"{(location or {}).get('message', '')}")
                entry = entries[0]
                self.repo_path = f"{entry['locationOrLoadError']['repositories'][0]['name']}@{entry['name']}"
                return
            time.sleep(0.25)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _group_alive(self, pgid: int) -> bool:
        self.process.poll()  # reap the webserver itself, or its zombie keeps the group alive
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM to the whole process group (webserver and its code server), SIGKILL after 10 s."""
        if self.process is not None:
            pgid = self.process.pid  # start_new_session: the webserver leads its own group
            for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                if not self._group_alive(pgid):
                    break
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and self._group_alive(pgid):
                    time.sleep(0.1)
            self.process.wait(timeout=5)
            self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the screenshot --------------------------------------------------------------------------

def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def dom_names(dom: str, names: list[str]) -> list[str]:
    """The names of `names` the DOM does not show; a label shortened in the middle
    ("perplexi…_filtered") counts when its two ends are the name's."""
    text = re.sub(r"<[^>]+>", " ", dom)
    shortened = re.findall(r"[\w.]+…[\w.]+", text)
    missing = []
    for name in names:
        if name in text:
            continue
        if not any(name.startswith(s.split("…")[0]) and name.endswith(s.split("…")[1])
                   and len(s) > 8 for s in shortened):
            missing.append(name)
    return missing


def png_problems(path: Path, min_colours: int = 100, max_background: float = 0.985) -> tuple[list[str], str]:
    """A blank page has a few colours; a loading page is >= 99 % one background colour with a line
    of text (measured: 99.1-99.4 %); the rendered lineage pages are 88-92 %, the checks tab 97 %."""
    from PIL import Image  # pillow comes with matplotlib, a project dependency

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size
    colours = rgb.getcolors(maxcolors=width * height)
    background = max(colours)[0] / (width * height)
    summary = f"{width}x{height}, {len(colours)} colours, background {background:.1%}"
    problems = []
    if len(colours) < min_colours:
        problems.append(f"{path.name}: only {len(colours)} distinct colours")
    if background > max_background:
        problems.append(f"{path.name}: {background:.1%} of the pixels are the background colour")
    return problems, summary


@dataclass
class Shot:
    png: Path
    url: str
    seconds: float
    summary: str
    problems: list[str]


def screenshot(url: str, png: Path, expect: list[str], chromium: str, window: str = "2400,1000",
               budget_ms: int = 15000) -> Shot:
    """One Chromium run writes the PNG and dumps the DOM after `budget_ms` of virtual time."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ui-check-chromium-") as profile:
        command = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                   "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                   f"--window-size={window}", f"--virtual-time-budget={budget_ms}",
                   f"--screenshot={png}", "--dump-dom", url]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=profile)
        except subprocess.TimeoutExpired:
            return Shot(png, url, time.monotonic() - start, "", [f"{png.name}: chromium timed out"])
    seconds = time.monotonic() - start
    if run.returncode != 0 or not png.exists() or png.stat().st_size < 10_000:
        tail = "\n".join(run.stderr.splitlines()[-5:])
        return Shot(png, url, seconds, "", [f"{png.name}: no screenshot (chromium exit {run.returncode}):\n{tail}"])
    problems, summary = png_problems(png)
    missing = dom_names(run.stdout, expect)
    if missing:
        problems.append(f"{png.name}: the page does not show {missing} (still loading?)")
    return Shot(png, url, seconds, f"{summary}, {png.stat().st_size // 1024} KiB", problems)


def lineage_pages(server: Webserver, chains: dict[str, list[str]], code: Lineage,
                  out_dir: Path) -> list[tuple[str, Path, list[str]]]:
    """(URL, PNG, names the page must show): the global lineage (one box per group), each chain's
    group lineage, and the Checks tab of the first chain stage with more than the common checks."""
    pages = [(f"{server.base_url}/asset-groups", out_dir / "lineage.png",
              ["Global asset lineage", *sorted({key.split("/")[0] for chain in chains.values() for key in chain})])]
    for group, chain in chains.items():
        url = f"{server.base_url}/locations/{quote(server.repo_path, safe='@:')}/asset-groups/{quote(group)}/lineage"
        pages.append((url, out_dir / f"lineage-{group}.png", [key.rsplit("/", 1)[-1] for key in chain]))
    checked = [key for chain in chains.values() for key in chain if required_checks(key) != REQUIRED_CHECKS]
    if checked:
        key = checked[0]
        pages.append((f"{server.base_url}/assets/{quote(key)}?view=checks",
                      out_dir / f"checks-{key.replace('/', '-')}.png", sorted(code.checks[key])))
    return pages


# --- the command -----------------------------------------------------------------------------

def check_lineage(server: Webserver) -> tuple[Lineage, dict[str, list[str]], list[str], float]:
    """(the code's lineage, chains, problems, seconds of the GraphQL query) for a running webserver."""
    from assets.definitions import defs

    start = time.monotonic()
    data = post_graphql(server.base_url, LINEAGE_QUERY)
    seconds = time.monotonic() - start
    ui = lineage_from_graphql(data)
    code = lineage_from_definitions(defs)
    chains = derive_chains(code)
    problems = compare(ui, code, chains)
    addresses = listening_addresses(server.port)
    if addresses - {"127.0.0.1"}:
        problems.append(f"the webserver listens on {sorted(addresses)}, not only 127.0.0.1")
    return code, chains, problems, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-screenshot", action="store_true", help="GraphQL checks only")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "out" / "ui", help="where the PNGs go")
    parser.add_argument("--chromium", default=None, help="browser binary (default: chromium on PATH)")
    parser.add_argument("--window-size", default="2400,1000")
    parser.add_argument("--virtual-time-budget", type=int, default=15000, help="ms of page time before the shot")
    parser.add_argument("--dagster-home", type=Path, default=None,
                        help="instance to serve (default: a temporary copy of dagster.yaml, no runs)")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    chromium = None
    if not args.no_screenshot:
        chromium = args.chromium or find_chromium()
        if not chromium:
            print("ui_check: no chromium on PATH (pass --chromium PATH or --no-screenshot)", file=sys.stderr)
            return 1
    problems: list[str] = []
    shots: list[Shot] = []
    try:
        with Webserver(dagster_home=args.dagster_home, port=args.port) as server:
            print(f"ui_check: dagster-webserver ready on {server.base_url} in {server.started_s:.1f} s")
            code, chains, problems, graphql_s = check_lineage(server)
            print(f"ui_check: GraphQL lineage query {graphql_s:.2f} s")
            for group, chain in chains.items():
                print(f"  {group}: " + " -> ".join(key.split("/", 1)[1] for key in chain))
                extra = [f"{key.split('/', 1)[1]} +{','.join(sorted(required_checks(key) - REQUIRED_CHECKS))}"
                         for key in chain if required_checks(key) != REQUIRED_CHECKS]
                print(f"    checks: every stage {','.join(sorted(REQUIRED_CHECKS))}; " + "; ".join(extra))
            if chromium:
                for url, png, expect in lineage_pages(server, chains, code, args.out_dir):
                    shot = screenshot(url, png, expect, chromium, args.window_size, args.virtual_time_budget)
                    shots.append(shot)
                    problems += shot.problems
                    print(f"ui_check: screenshot {png} ({shot.seconds:.1f} s; {shot.summary or 'failed'})")
            stopping = time.monotonic()
        print(f"ui_check: webserver stopped in {time.monotonic() - stopping:.1f} s")
    except Exception as error:  # noqa: BLE001 - any failure is a failed check with its message
        problems.append(f"{type(error).__name__}: {error}")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print(f"ui_check: {'FAILED' if problems else 'ok'} ({len(problems)} problems"
          f"{', ' + str(len(shots)) + ' screenshots' if shots else ''})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
