"""The man pages and the bash completion agree with what hffs itself says it takes (issue 17).

The oracle is the binary's own output, not the tables the pages are generated from: every
subcommand and option that `hffs --help` and each `hffs SUB --help` list must be in hffs(1) under
that command and must complete (the completion functions run in bash with COMP_WORDS/COMP_CWORD
set), and every option the fstab parser names in its error must be in mount.fuse.hffs(8).
Env: HFFS_BIN (the binary), HFFS_DOC_DIR (where the build wrote hffs.1, mount.fuse.hffs.8,
hffs.bash-completion).
"""
import os
import re
import shlex
import subprocess
import tempfile
import unittest

HFFS = os.environ.get("HFFS_BIN", "build/cli/hffs")
DOC = os.environ.get("HFFS_DOC_DIR", "build/doc")


def help_of(path):
    """(options as lists of names, subcommands, {option: choices}) from `hffs PATH --help`."""
    out = subprocess.run([HFFS, *path, "--help"], capture_output=True, text=True, check=True).stdout
    options, subs, choices, section = [], [], {}, None
    for line in out.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section not in ("Subcommands", "Positionals"):  # "Options" or a named option group
            m = re.match(r"^  (-[^\s]+)(?:\s+(\S+))?", line)
            if m:
                names = m.group(1).split(",")
                options.append(names)
                c = re.search(r"\{([^}]*)\}", m.group(2) or "")
                if c:
                    choices[names[-1]] = c.group(1).split(",")
        elif section == "Subcommands":
            m = re.match(r"^  ([a-z_][a-z0-9_-]*)\s", line)
            if m:
                subs.append(m.group(1))
    return options, subs, choices


def all_paths(path=()):
    options, subs, choices = help_of(path)
    yield path, options, subs, choices
    for s in subs:
        yield from all_paths(path + (s,))


def roff(name):
    return name.replace("-", "\\-")


class ManAndCompletionMatchHelp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.paths = list(all_paths())
        with open(os.path.join(DOC, "hffs.1")) as f:
            cls.man1 = f.read()
        with open(os.path.join(DOC, "mount.fuse.hffs.8")) as f:
            cls.man8 = f.read()
        cls.completion = os.path.join(DOC, "hffs.bash-completion")

    def section(self, path):
        """The hffs(1) text of one command: from its .SS line to the next."""
        start = self.man1.find('.SS "%s"\n' % roff("hffs " + " ".join(path)))
        self.assertGreaterEqual(start, 0, f"hffs(1) has no section for hffs {' '.join(path)}")
        end = self.man1.find("\n.SS ", start + 1)
        return self.man1[start:end if end > 0 else len(self.man1)]

    def complete(self, cases):
        """COMPREPLY for each list of words (the last one is under the cursor), in one bash."""
        script = ["source " + shlex.quote(self.completion)]
        for words in cases:
            script.append("COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _hffs; echo \"${COMPREPLY[*]}\""
                          % (" ".join(shlex.quote(w) for w in words), len(words) - 1))
        out = subprocess.run(["bash", "--norc", "-c", "\n".join(script)], capture_output=True, text=True,
                             check=True).stdout.split("\n")
        return {tuple(words): set(out[i].split()) for i, words in enumerate(cases)}

    def test_help_lists_something(self):
        names = [p for p, *_ in self.paths]
        for expected in [(), ("mount",), ("umount",), ("status",), ("cache",), ("cache", "verify"), ("prefetch",)]:
            self.assertIn(expected, names)
        mount_opts = {n for names in dict((p, o) for p, o, *_ in self.paths)[("mount",)] for n in names}
        for opt in ["--revision", "-r", "--cache-dir", "--offline", "--verify", "-o"]:
            self.assertIn(opt, mount_opts)

    def test_every_option_and_subcommand_is_in_the_man_page(self):
        missing = []
        for path, options, subs, _ in self.paths:
            text = self.man1 if not path else self.section(path)
            for names in options:
                for n in names:
                    if path and n in ("-h", "--help"):
                        continue  # once, under OPTIONS
                    if "\\fB%s\\fR" % roff(n) not in text:
                        missing.append(f"hffs {' '.join(path)} {n}")
            for s in subs:
                if '.SS "%s"' % roff("hffs " + " ".join(path + (s,))) not in self.man1:
                    missing.append(f"subcommand hffs {' '.join(path + (s,))}")
        self.assertEqual(missing, [])

    def test_every_option_and_subcommand_completes(self):
        cases = []
        for path, options, subs, _ in self.paths:
            cases.append(("hffs", *path, "-"))
            cases.append(("hffs", *path, ""))
            for s in subs:
                cases.append(("hffs", *path, s[:2]))
        got = self.complete(cases)
        missing = []
        for path, options, subs, _ in self.paths:
            offered = got[("hffs", *path, "-")]
            missing += [f"hffs {' '.join(path)} {n}" for names in options for n in names if n not in offered]
            missing += [f"hffs {' '.join(path)} {s}" for s in subs if s not in got[("hffs", *path, "")]]
            missing += [f"hffs {' '.join(path)} {s[:2]}<TAB>" for s in subs if s not in got[("hffs", *path, s[:2])]]
        self.assertEqual(missing, [])

    def test_values_complete(self):
        cases, expect = [], {}
        for path, _, _, choices in self.paths:
            for opt, values in choices.items():
                words = ("hffs", *path, opt, "")
                cases.append(words)
                expect[words] = set(values)
        self.assertTrue(expect, "no option with a fixed set of values in --help")
        with tempfile.TemporaryDirectory(prefix="hffs-compl-") as tmp:
            os.mkdir(os.path.join(tmp, "somedir"))
            dir_words = ("hffs", "mount", "--cache-dir", os.path.join(tmp, "som"))
            # After an option and its value, and after --opt=value split by bash at '=', the walk
            # still knows the command; a subcommand's positional mount point completes to directories.
            after_value = ("hffs", "mount", "--revision", "main", "--off")
            after_eq = ("hffs", "mount", "--log-level", "=", "info", "--no-pre")
            umount_dir = ("hffs", "umount", os.path.join(tmp, "som"))
            got = self.complete(cases + [dir_words, after_value, after_eq, umount_dir])
            for words, values in expect.items():
                self.assertEqual(got[words], values, words)
            self.assertEqual(got[dir_words], {os.path.join(tmp, "somedir")})
            self.assertEqual(got[after_value], {"--offline"})
            self.assertEqual(got[after_eq], {"--no-prefetch"})
            self.assertEqual(got[umount_dir], {os.path.join(tmp, "somedir")})

    def test_every_fstab_option_is_in_mount_helper_page(self):
        # The parser lists what it takes when it meets an option it does not know.
        r = subprocess.run([HFFS, "org/name", "/nonexistent-hffs-doc-test", "-o", "docs_test_bogus"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        m = re.search(r"\(hffs takes (.*)\)", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        keys = [k.strip() for k in m.group(1).split(",")]
        self.assertGreater(len(keys), 20)
        missing = [k for k in keys if k not in self.man8]
        self.assertEqual(missing, [])
        for k in keys:  # each fstab option of hffs has a tagged entry with its help
            if k.endswith("=") or k not in ("allow_other", "allow_root", "default_permissions", "auto_unmount"):
                self.assertTrue(re.search(r"\n\.TP\n\\fB%s\\fR" % re.escape(k), self.man8),
                                f"mount.fuse.hffs(8) has no entry for {k}")
        self.assertNotIn("(no description)", self.man8)
        self.assertNotIn("(no description)", self.man1)


if __name__ == "__main__":
    unittest.main()
