"""Drives virt-manager through its accessibility tree with dogtail, as virt-manager's own tests/uitests do.

Run by TestVirtManager inside a private D-Bus session (dbus-run-session), with DISPLAY set to a private Xvfb:

    drive.py URI OUTDIR GUEST [LISTED...]

It starts virt-manager on URI, waits until every LISTED domain and GUEST show in the manager's list, opens
GUEST's details, starts it and shuts it down. After each state change it prints "STEP <name>" and waits for a
line on stdin: the Go test checks the state with virsh in between. Screenshots of the whole screen go to OUTDIR.
Any failure prints the accessible tree of virt-manager and exits non-zero.
"""

import os
import re
import subprocess
import sys
import time
import warnings

warnings.simplefilter("ignore")

import gi  # noqa: E402

gi.require_version("Atspi", "2.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk  # noqa: E402

import dogtail.config  # noqa: E402

# Accessibility is on by the environment here (GTK 3 loads its AT-SPI bridge whenever the bus answers); dogtail's
# own check reads a GSettings key no private session has.
dogtail.config.config.checkForA11y = False
# virt-manager's uitests timing: short backoff, quick actions.
dogtail.config.config.searchBackoffDuration = 0.1
dogtail.config.config.searchCutoffCount = 100
dogtail.config.config.actionDelay = 0.1
dogtail.config.config.defaultDelay = 0.1
dogtail.config.config.logDebugToStdOut = False
dogtail.config.config.logDebugToFile = False
sys.excepthook = sys.__excepthook__

import dogtail.predicate  # noqa: E402
import dogtail.tree  # noqa: E402

# How long a condition may take to hold: the simulated guest's shutdown takes guest time.
DEADLINE = 60


class Fuzzy(dogtail.predicate.Predicate):
    """virt-manager's _FuzzyPredicate: a regular expression on the name and on the role."""

    def __init__(self, name=None, role=None):
        self._name = re.compile(name, re.DOTALL) if name else None
        self._role = re.compile(role, re.DOTALL) if role else None

    def makeScriptMethodCall(self, isRecursive):
        return None

    def makeScriptVariableName(self):
        return None

    def describeSearchResult(self, node=None):
        return "%s %r" % (node.roleName, node.name) if node else ""

    def satisfiedByNode(self, node):
        try:
            if self._role and not self._role.match(node.roleName):
                return False
            return not self._name or bool(self._name.match(node.name))
        except Exception:  # a node that went away while searching
            return False


def find(node, name, role=None):
    """The first descendant of node matching name and role (regular expressions)."""
    return node.findChild(Fuzzy(name, role), recursive=True)


def check(what, cond):
    """Polls cond until it holds, as the uitests' utils.check does."""
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.1)


def screenshot(outdir, name):
    """Saves the whole Xvfb screen as OUTDIR/name.png."""
    root = Gdk.get_default_root_window()
    pix = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
    path = os.path.join(outdir, name + ".png")
    pix.savev(path, "png", [], [])
    print("SCREENSHOT " + path, flush=True)


def step(name):
    """Tells the test a state change is done and waits until it has checked it."""
    print("STEP " + name, flush=True)
    if sys.stdin.readline().strip() != "ok":
        raise RuntimeError("the test stopped at step " + name)


def dump(node, depth=0):
    """The accessible tree under node, one line per node."""
    lines = ["%s%s %r%s" % ("  " * depth, node.roleName, node.name, "" if node.sensitive else " (insensitive)")]
    for child in node.children:
        lines.extend(dump(child, depth + 1))
    return lines


def row(manager, vm):
    """The cell of vm's row in the manager's list: its name is "NAME\\nState"."""
    return find(manager, re.escape(vm) + "\n", "table cell")


def drive(uri, outdir, guest, listed):
    log = open(os.path.join(outdir, "virt-manager.log"), "w")
    # --test-options=first-run: fresh in-memory settings and no probing of other connections, as the uitests run it.
    proc = subprocess.Popen(["/usr/bin/virt-manager", "--connect", uri, "--no-fork", "--debug",
                             "--test-options=first-run"], stdout=log, stderr=subprocess.STDOUT)
    app = None
    try:
        app = dogtail.tree.root.application("virt-manager")
        manager = find(app, "Virtual Machine Manager", "frame")
        for vm in listed + [guest]:
            row(manager, vm)
        cell = row(manager, guest)
        check("%s shut off in the list" % guest, lambda: cell.name.endswith("Shutoff"))
        screenshot(outdir, "01-manager")
        step("listed")

        # Select the guest's row, then the toolbar's Open button opens its window.
        cell.click()
        open_button = find(manager, "Open", "push button")
        check("Open to become sensitive", lambda: open_button.sensitive)
        open_button.click()
        details = find(app, re.escape(guest) + " on ", "frame")
        find(details, "Details", "radio button").click()
        find(details, "Overview", "table cell")
        screenshot(outdir, "02-details")
        step("details")

        run = find(details, "Run", "push button")
        shutdown = find(details, "Shut Down", "push button")
        run.click()
        check("Shut Down to become sensitive", lambda: shutdown.sensitive and not run.sensitive)
        check("%s running in the list" % guest, lambda: row(manager, guest).name.endswith("Running"))
        screenshot(outdir, "03-running")
        step("running")

        shutdown.click()
        # virt-manager asks before a shutdown when its confirm/poweroff setting says so (first-run settings do
        # not): answer Yes if it asks.
        def stopped():
            alert = app.findChild(Fuzzy(".*", "alert"), retry=False, requireResult=False)
            if alert is not None:
                find(alert, "Yes", "push button").click()
            return run.sensitive and not shutdown.sensitive
        check("Run to become sensitive", stopped)
        check("%s shut off in the list" % guest, lambda: row(manager, guest).name.endswith("Shutoff"))
        screenshot(outdir, "04-shutoff")
        step("shutoff")
    except Exception:
        if app is not None:
            try:
                print("\n".join(dump(app)), file=sys.stderr)
            except Exception as e:  # the application may be gone already
                print("no accessible tree: %s" % e, file=sys.stderr)
        try:
            screenshot(outdir, "99-failure")
        except Exception as e:
            print("no failure screenshot: %s" % e, file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    drive(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
