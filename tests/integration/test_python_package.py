"""The Python client as a package (issue 12, part 5): `pip install` of clients/python into a fresh
virtual environment, offline, then the installed console scripts and module against a real server.

PyPI is out of reach in CI, so the venv is made by Debian's python3 with --system-site-packages
(Debian's python3-venv, python3-setuptools, python3-wheel and python3-pip, from
scripts/setup.sh --test) and pip builds with --no-build-isolation --no-index. On a machine with
network access `pip install ./clients/python` fetches setuptools itself.

- the `dreamstream` and `dreamstream-py` console scripts print their help;
- `import dreamstream` in the venv, outside the source tree, finds the installed module;
- `dreamstream push` sends fixture JPEGs and a viewer gets the built-in worker's output;
- the README's local-inference script, run by the venv's python, pushes frames that the installed
  identity worker (`dreamstream-py worker`) passes on unchanged to a viewer.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import ServerTestCase, register

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "python"))
FIXTURES = os.path.join(HERE, "fixtures")
sys.path.insert(0, PACKAGE_DIR)
import dreamstream as ds  # noqa: E402  (the test's own viewer; the venv gets its own copy)

# Debian's interpreter: the one whose setuptools, wheel and pip the venv may use offline.
SYSTEM_PYTHON = os.environ.get("DS_SYSTEM_PYTHON", "/usr/bin/python3")
WORKER_TOKEN = "dsw_pkgtest_0123456789abcdef"
SUBCOMMANDS = ("push", "worker", "watch", "comment", "style")

_venv = {}


def clean_env():
    """The environment without anything that would find the source tree's copy or a pip config."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("PIP_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="ds-pypkg-")
    src = os.path.join(tmp, "src")
    # A copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    shutil.copytree(PACKAGE_DIR, src, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "__pycache__"))
    venv = os.path.join(tmp, "venv")
    steps = [
        [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", venv],
        [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--no-build-isolation",
         "--no-index", "--no-cache-dir", src],
    ]
    started = time.monotonic()
    for cmd in steps:
        out = subprocess.run(cmd, cwd=tmp, env=clean_env(), capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError("%s failed (%s):\n%s%s" % (" ".join(cmd), out.returncode,
                                                          out.stdout, out.stderr))
    sys.stderr.write("venv and pip install: %.1f s\n" % (time.monotonic() - started))
    _venv.update(tmp=tmp, bin=os.path.join(venv, "bin"), prefix=venv)


def tearDownModule():
    if _venv.get("tmp"):
        shutil.rmtree(_venv["tmp"], ignore_errors=True)


def venv_run(*args, timeout=60, **kw):
    """Runs a venv program with the temp dir (outside the source tree) as working directory."""
    cmd = [os.path.join(_venv["bin"], args[0])] + list(args[1:])
    return subprocess.run(cmd, cwd=_venv["tmp"], env=clean_env(), capture_output=True, text=True,
                          timeout=timeout, **kw)


def read_fixtures():
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.jpg"))):
        with open(path, "rb") as f:
            out.append(f.read())
    return out


def readme_script():
    """The README's local-inference script: the python block after its test marker."""
    with open(os.path.join(PACKAGE_DIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- test_python_package runs this -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its tested script"
    return m.group(1)


class TestInstalledPackage(unittest.TestCase):

    def test_console_scripts_print_their_help(self):
        for script in ("dreamstream", "dreamstream-py"):
            out = venv_run(script, "--help")
            self.assertEqual(out.returncode, 0, out.stderr)
            for sub in SUBCOMMANDS:
                self.assertIn(sub, out.stdout, script)
            push = venv_run(script, "push", "--help")
            self.assertEqual(push.returncode, 0, push.stderr)
            self.assertIn("--key", push.stdout)

    def test_the_module_imports_from_the_venv_outside_the_source_tree(self):
        code = ("import json, importlib.metadata as m, dreamstream as d; print(json.dumps({"
                "'file': d.__file__, 'version': m.version('dreamstream'), "
                "'requires': m.requires('dreamstream'), "
                "'scripts': sorted(e.name for e in m.entry_points(group='console_scripts') "
                "if e.value == 'dreamstream:main'), "
                "'api': [n for n in ('Streamer', 'Viewer', 'Client', 'run_worker', 'post_frame', "
                "'main') if hasattr(d, n)]}))")
        out = venv_run("python", "-c", code)
        self.assertEqual(out.returncode, 0, out.stderr)
        info = json.loads(out.stdout)
        self.assertTrue(info["file"].startswith(_venv["prefix"] + os.sep), info["file"])
        self.assertEqual(info["version"], "0.1.0")
        self.assertFalse(info["requires"])  # stdlib only at run time
        self.assertEqual(info["scripts"], ["dreamstream", "dreamstream-py"])
        self.assertEqual(len(info["api"]), 6, info["api"])


class PackageServerTest(ServerTestCase):

    def streamer_account(self):
        c = self.client()
        name = register(c)["username"]
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201, body)
        return name, body["stream_key"]

    def frames(self, viewer, count, timeout=30.0):
        got, events = [], []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("viewer got %d of %d frames; events %r" % (len(got), count, events[-8:]))
            kind, data = viewer.recv(timeout=left)
            if kind == "frame":
                got.append(data.jpeg)
            elif kind == "event":
                events.append(data)
            else:
                self.fail("viewer closed: %s" % viewer.close_code)
        return got


class TestInstalledPushWithBuiltinWorker(PackageServerTest):
    server_args = ["--builtin-workers", "1"]

    def test_dreamstream_push_reaches_a_viewer_as_processed_frames(self):
        name, key = self.streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        out = venv_run("dreamstream", "push", "--server", self.server.url, "--key", key,
                       "--dir", FIXTURES, "--fps", "10", "--count", "20")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("done: sent 20", out.stdout)
        fixtures = read_fixtures()
        for jpeg in self.frames(viewer, 1):
            self.assertTrue(ds.is_jpeg(jpeg))
            self.assertNotIn(jpeg, fixtures)  # the built-in worker re-drew it


class TestReadmeScriptThroughTheInstalledIdentityWorker(PackageServerTest):
    server_args = ["--builtin-workers", "0", "--worker-token", WORKER_TOKEN]

    def test_the_readme_script_pushes_frames_that_viewers_get_unchanged(self):
        log_path = os.path.join(_venv["tmp"], "worker.log")
        log = open(log_path, "wb")
        self.addCleanup(log.close)
        worker = subprocess.Popen(
            [os.path.join(_venv["bin"], "dreamstream-py"), "worker", "--server", self.server.url,
             "--token", WORKER_TOKEN, "--name", "pkg-identity"],
            cwd=_venv["tmp"], env=clean_env(), stdout=log, stderr=subprocess.STDOUT)

        def stop_worker():
            worker.terminate()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.addCleanup(stop_worker)
        deadline = time.monotonic() + 20
        while "event=worker_connected worker=pkg-identity" not in self.server.logs():
            if worker.poll() is not None:
                with open(log_path) as f:
                    self.fail("the worker exited: %s" % f.read())
            self.assertLess(time.monotonic(), deadline, "the installed worker never connected")
            time.sleep(0.1)

        name, key = self.streamer_account()
        viewer = ds.Viewer(self.server.url, name).connect()
        self.addCleanup(viewer.close)
        # Two seconds of frames (the four fixtures in turn), in a folder the script globs.
        frames_dir = tempfile.mkdtemp(prefix="frames-", dir=_venv["tmp"])
        fixtures = read_fixtures()
        for i in range(20):
            with open(os.path.join(frames_dir, "f%03d.jpg" % i), "wb") as f:
                f.write(fixtures[i % len(fixtures)])
        script = readme_script()
        for placeholder in ('"http://127.0.0.1:8080"', '"dsk_..."', '"frames/*.jpg"'):
            self.assertIn(placeholder, script)
        script = (script.replace('"http://127.0.0.1:8080"', repr(self.server.url))
                  .replace('"dsk_..."', repr(key))
                  .replace('"frames/*.jpg"', repr(os.path.join(frames_dir, "*.jpg"))))
        self.assertLessEqual(len(readme_script().strip().splitlines()), 10)
        path = os.path.join(_venv["tmp"], "local_inference.py")
        with open(path, "w") as f:
            f.write(script)
        out = venv_run("python", path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for jpeg in self.frames(viewer, 3):
            self.assertIn(jpeg, fixtures)  # what the script pushed, byte for byte


if __name__ == "__main__":
    unittest.main()
