# The tiny authentik-like environment, part 1: stateless classes and helpers.
# Plain Python, the same text for both interpreters. Nothing here holds per-request state,
# so RustPython can run it once per VM and each request gets a fresh copy of these globals.
import re
from datetime import datetime, timedelta, timezone


def _kf_parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Group:
    def __init__(self, name):
        self.name = name


class GroupSet:
    """What `user.ak_groups` answers: .all(), .filter(name=...), .exists(), iteration."""

    def __init__(self, groups):
        self._groups = groups

    def all(self):
        return list(self._groups)

    def filter(self, name=None):
        return GroupSet([g for g in self._groups if name is None or g.name == name])

    def exists(self):
        return len(self._groups) > 0

    def __iter__(self):
        return iter(self._groups)


class User:
    def __init__(self, fields):
        self.username = fields.get("username", "")
        self.name = fields.get("name", "")
        self.email = fields.get("email", "")
        self.is_active = fields.get("is_active", True)
        self.is_superuser = fields.get("is_superuser", False)
        self.attributes = fields.get("attributes", {})
        self.ak_groups = GroupSet([Group(n) for n in fields.get("groups", [])])
        changed = fields.get("password_change_date")
        self.password_change_date = _kf_parse_time(changed) if changed else None


class HttpRequest:
    def __init__(self, path):
        self.path = path
        self.method = "GET"
        self.headers = {}


class FlowPlan:
    def __init__(self, context):
        self.context = context


class PolicyRequest:
    def __init__(self, user, context, http_request):
        self.user = user
        self.context = context
        self.http_request = http_request


class IPv4Address:
    def __init__(self, text):
        parts = str(text).split(".")
        if len(parts) != 4:
            raise ValueError(repr(text) + " does not appear to be an IPv4 address")
        value = 0
        for part in parts:
            octet = int(part)
            if octet < 0 or octet > 255:
                raise ValueError(repr(text) + " does not appear to be an IPv4 address")
            value = value * 256 + octet
        self.value = value
        self.text = str(text)

    def __eq__(self, other):
        return isinstance(other, IPv4Address) and other.value == self.value

    def __str__(self):
        return self.text


class IPv4Network:
    def __init__(self, text):
        address, _, bits = str(text).partition("/")
        self.prefixlen = int(bits) if bits else 32
        self.mask = ((1 << 32) - 1) ^ ((1 << (32 - self.prefixlen)) - 1)
        self.base = IPv4Address(address).value & self.mask

    def __contains__(self, address):
        return isinstance(address, IPv4Address) and (address.value & self.mask) == self.base


ip_address = IPv4Address
ip_network = IPv4Network


def regex_match(value, regex):
    return re.search(regex, value) is not None


def regex_replace(value, regex, repl):
    return re.sub(regex, repl, value)


def ak_is_group_member(user, **group_filters):
    return user.ak_groups.filter(**group_filters).exists()


_KF_AKADMIN = {
    "username": "akadmin",
    "name": "authentik Default Admin",
    "email": "akadmin@localhost",
    "is_superuser": True,
    "groups": ["authentik Admins"],
}


def ak_user_by(**filters):
    user = User(_KF_AKADMIN)
    for key, value in filters.items():
        if getattr(user, key, None) != value:
            return None
    return user


class KfEnv:
    """Per-request state: plan context, collected messages, the clock."""

    def __init__(self, given):
        self.messages = []
        self.plan_context = {}
        if "prompt_data" in given:
            self.plan_context["prompt_data"] = given["prompt_data"]
        if "pending_user" in given:
            self.plan_context["pending_user"] = User(given["pending_user"])
        for key, value in given.get("context", {}).items():
            self.plan_context[key] = value
        if "now" in given:
            self.clock = _kf_parse_time(given["now"])
        else:
            self.clock = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def message(self, text):
        self.messages.append(str(text))

    def now(self):
        return self.clock


def _kf_install_django(now):
    """Make `from django.utils.timezone import now` resolve, where the engine has sys.modules."""
    try:
        import sys
        import types
    except ImportError:
        return False
    timezone_module = types.ModuleType("django.utils.timezone")
    timezone_module.now = now
    sys.modules["django"] = types.ModuleType("django")
    sys.modules["django.utils"] = types.ModuleType("django.utils")
    sys.modules["django.utils.timezone"] = timezone_module
    return True


def _kf_plain(value):
    if isinstance(value, User):
        return value.username
    if isinstance(value, dict):
        return {k: _kf_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_kf_plain(v) for v in value]
    return value


def _kf_verdict(env, result, expect):
    """'ok' when the result matches the case's expectation, else what differed."""
    if expect.get("show"):
        return "returned " + repr(_kf_plain(result))[:300]
    problems = []
    if "passing" in expect and bool(result) != expect["passing"]:
        problems.append("passing=" + repr(bool(result)))
    if "messages" in expect and env.messages != expect["messages"]:
        problems.append("messages=" + repr(env.messages))
    if "context" in expect:
        for key, want in expect["context"].items():
            got = _kf_plain(env.plan_context.get(key))
            if got != want:
                problems.append("context[" + key + "]=" + repr(got))
    if "error" in expect and expect["error"]:
        problems.append("no error raised (returned " + repr(result) + ")")
    if problems:
        return "; ".join(problems)
    return "ok"
