//! The limit probes: hostile or runaway policy bodies, each run in its own child process.

/// One probe: a name, the policy body, and what it tests.
pub struct Probe {
    pub name: &'static str,
    pub what: &'static str,
    pub body: &'static str,
}

pub const PROBES: &[Probe] = &[
    Probe {
        name: "busy-loop",
        what: "`while True: pass` under a 2 s limit",
        body: "while True:\n    pass\n",
    },
    Probe {
        name: "long-builtin",
        what: "one long builtin call: `sum(range(10**11))`",
        body: "return sum(range(10**11)) > 0\n",
    },
    Probe {
        name: "redos",
        what: "catastrophic regex `(a+)+$` on 40 a's + b",
        body: "import re\nreturn re.match(r\"(a+)+$\", \"a\" * 40 + \"b\") is None\n",
    },
    Probe {
        name: "recursion",
        what: "unbounded recursion `def f(n): return f(n+1)`",
        body: "def f(n):\n    return f(n + 1) + 1\nreturn f(0)\n",
    },
    Probe {
        name: "recursion-raised",
        what: "`sys.setrecursionlimit(10**6)` then unbounded recursion",
        body: "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1) + 1\nreturn f(0)\n",
    },
    Probe {
        name: "big-string",
        what: "`\"x\" * 10**10` (10 GB at once)",
        body: "s = \"x\" * 10**10\nreturn len(s) > 0\n",
    },
    Probe {
        name: "growing-list",
        what: "a list growing by 1 KB strings until stopped",
        body: "items = []\nwhile True:\n    items.append(\"x\" * 1000 + str(len(items)))\n",
    },
    Probe {
        name: "os-listdir",
        what: "`import os; os.listdir(\"/\")`",
        body: "import os\nreturn os.listdir(\"/\")\n",
    },
    Probe {
        name: "open-file",
        what: "`open(\"/etc/passwd\").read()`",
        body: "return open(\"/etc/passwd\").read()\n",
    },
    Probe {
        name: "environ",
        what: "`import os; os.environ` / `os.getenv(\"PATH\")`",
        body: "import os\nreturn os.getenv(\"PATH\")\n",
    },
    Probe {
        name: "subprocess",
        what: "`import subprocess; subprocess.run([\"id\"])`",
        body: "import subprocess\nreturn subprocess.run([\"id\"], capture_output=True).stdout\n",
    },
    Probe {
        name: "subclasses",
        what: "`object.__subclasses__()` walk (classic escape route)",
        body: "return [c.__name__ for c in ().__class__.__base__.__subclasses__()]\n",
    },
    Probe {
        name: "leak",
        what: "request 1 patches `IPv4Network.__contains__`; does request 2 (same engine) see it?",
        body: "IPv4Network.__contains__ = lambda self, address: True\nreturn True\n",
    },
];

/// The second request of the `leak` probe: true only if request 1's patch leaked into it
/// (its client address 255.255.255.255 is not in 10.0.0.0/8).
pub const LEAK_CHECK: &str = "return ak_client_ip in ip_network(\"10.0.0.0/8\")\n";

/// Probes whose outcome depends on monty's allocator being armed; they run a third time as
/// `monty-armed`.
pub fn uses_memory(name: &str) -> bool {
    matches!(name, "big-string" | "growing-list")
}
