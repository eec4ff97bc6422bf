# keyflow's expression prelude: plain Python, run by the sandboxed interpreter before the admin's
# expression (which becomes the body of `__ak_expression` below it). It builds the globals
# authentik gives expressions from `_ak_input` (plain data keyflow prepares) and from the host
# functions keyflow passes in, which answer what needs the database:
#   _ak_host_user_by(**filters)               -> a user dict or None
#   _ak_host_user_groups(pk, inherited)       -> a list of group dicts
#   _ak_host_has_authenticator(pk, kind)      -> bool
#   _ak_host_call_policy(name, **kwargs)      -> {"passing": bool, "messages": [str]}
#   _ak_host_create_event(action, **kwargs)   -> None
# `_ak_now` is the evaluation's clock (an aware UTC datetime).
import datetime as _ak_datetime
import re as _ak_re
import unicodedata as _ak_unicodedata

_ak_messages = []
_ak_logs = []


def ak_message(message):
    _ak_messages.append(str(message))


class _AkLogger:
    def debug(self, event, **kwargs):
        _ak_logs.append(("debug", str(event)))

    def info(self, event, **kwargs):
        _ak_logs.append(("info", str(event)))

    def warning(self, event, **kwargs):
        _ak_logs.append(("warning", str(event)))

    def error(self, event, **kwargs):
        _ak_logs.append(("error", str(event)))

    def exception(self, event, **kwargs):
        _ak_logs.append(("error", str(event)))


ak_logger = _AkLogger()


# ---- users and groups (Django-like enough for expressions) ----


def _ak_lookup(item, lookup, wanted):
    field, _, op = lookup.partition("__")
    value = getattr(item, field, None)
    if op == "":
        return value == wanted
    if op == "in":
        return value in wanted
    if op == "iexact":
        return str(value).lower() == str(wanted).lower()
    if op == "contains":
        return wanted in value
    if op == "icontains":
        return str(wanted).lower() in str(value).lower()
    if op == "startswith":
        return str(value).startswith(wanted)
    if op == "istartswith":
        return str(value).lower().startswith(str(wanted).lower())
    if op == "endswith":
        return str(value).endswith(wanted)
    if op == "iendswith":
        return str(value).lower().endswith(str(wanted).lower())
    if op == "isnull":
        return (value is None) == wanted
    raise ValueError("lookup " + lookup + " is not supported in keyflow expressions")


class _AkQuerySet:
    def __init__(self, items):
        self._items = list(items)

    def all(self):
        return self

    def filter(self, **lookups):
        return _AkQuerySet(
            [i for i in self._items if all(_ak_lookup(i, k, v) for k, v in lookups.items())]
        )

    def exclude(self, **lookups):
        return _AkQuerySet(
            [i for i in self._items if not all(_ak_lookup(i, k, v) for k, v in lookups.items())]
        )

    def exists(self):
        return len(self._items) > 0

    def count(self):
        return len(self._items)

    def first(self):
        return self._items[0] if self._items else None

    def last(self):
        return self._items[-1] if self._items else None

    def get(self, **lookups):
        found = self.filter(**lookups)._items
        if len(found) != 1:
            raise LookupError("expected exactly one object, found " + str(len(found)))
        return found[0]

    def values_list(self, *fields, flat=False):
        if flat:
            return [getattr(i, fields[0]) for i in self._items]
        return [tuple(getattr(i, f) for f in fields) for i in self._items]

    def order_by(self, *fields):
        items = self._items
        for field in reversed(fields):
            reverse = field.startswith("-")
            name = field.lstrip("-")
            items = sorted(items, key=lambda i: getattr(i, name), reverse=reverse)
        return _AkQuerySet(items)

    def __iter__(self):
        return iter(self._items)

    def __contains__(self, item):
        return item in self._items


class Group:
    def __init__(self, data):
        self.pk = data["pk"]
        self.group_uuid = data["pk"]
        self.name = data["name"]
        self.is_superuser = data["is_superuser"]
        self.attributes = data["attributes"]
        self.parent_id = data.get("parent_id")

    def __eq__(self, other):
        return isinstance(other, Group) and other.pk == self.pk

    def __hash__(self):
        return hash(self.pk)

    def __str__(self):
        return self.name

    def __repr__(self):
        return "<Group " + self.name + ">"


class _AkUserGroups:
    """`user.ak_groups`: the user's direct groups, fetched on first use."""

    def __init__(self, pk, inherited):
        self._pk = pk
        self._inherited = inherited
        self._cache = None

    def _all(self):
        if self._cache is None:
            rows = [] if self._pk is None else _ak_host_user_groups(self._pk, self._inherited)
            self._cache = _AkQuerySet([Group(g) for g in rows])
        return self._cache

    def all(self):
        return self._all()

    def filter(self, **lookups):
        return self._all().filter(**lookups)

    def exclude(self, **lookups):
        return self._all().exclude(**lookups)

    def exists(self):
        return self._all().exists()

    def count(self):
        return self._all().count()

    def first(self):
        return self._all().first()

    def values_list(self, *fields, flat=False):
        return self._all().values_list(*fields, flat=flat)

    def __iter__(self):
        return iter(self._all())

    def __contains__(self, item):
        return item in self._all()


class User:
    """authentik's `User` as expressions see it; attributes come from the host's user dict.
    An attribute the dict does not hold is absent (`hasattr(user, "backend")` is false until a
    stage authenticated the user)."""

    def __init__(self, data):
        for key, value in data.items():
            if not key.startswith("_"):
                setattr(self, key, value)
        self._usable_password = data.get("_usable_password", False)
        self.ak_groups = _AkUserGroups(self.pk, False)
        self._all_groups = _AkUserGroups(self.pk, True)

    def all_groups(self):
        return self._all_groups.all()

    def group_attributes(self, request=None):
        merged = {}
        for group in self._all_groups.all():
            merged.update(group.attributes)
        merged.update(self.attributes)
        return merged

    def has_usable_password(self):
        return self._usable_password

    def get_username(self):
        return self.username

    def __eq__(self, other):
        return isinstance(other, User) and other.pk == self.pk and other.username == self.username

    def __hash__(self):
        return hash(self.username)

    def __str__(self):
        return self.username

    def __repr__(self):
        return "<User " + self.username + ">"


def _ak_user(data):
    return None if data is None else User(data)


def ak_user_by(**filters):
    return _ak_user(_ak_host_user_by(**filters))


def ak_is_group_member(user, **group_filters):
    if user is None or getattr(user, "pk", None) is None:
        return False
    return user.all_groups().filter(**group_filters).exists()


def ak_user_has_authenticator(user, device_type=None):
    if user is None or getattr(user, "pk", None) is None:
        return False
    return _ak_host_has_authenticator(user.pk, device_type)


class _AkPolicyResult:
    def __init__(self, passing, messages):
        self.passing = passing
        self.messages = messages

    def __str__(self):
        return "PolicyResult passing=" + str(self.passing)


def ak_call_policy(name, **kwargs):
    outcome = _ak_host_call_policy(name, **kwargs)
    return _AkPolicyResult(outcome["passing"], outcome["messages"])


def ak_create_event(action, **kwargs):
    _ak_host_create_event(action, **kwargs)


# ---- helpers authentik's evaluator adds ----


def regex_match(value, regex):
    return _ak_re.search(regex, value) is not None


def regex_replace(value, regex, repl):
    return _ak_re.sub(regex, repl, value)


def list_flatten(value):
    if isinstance(value, (list, tuple, set)):
        items = list(value)
        return items[0] if items else None
    return value


def slugify(value, allow_unicode=False):
    value = str(value)
    if not allow_unicode:
        value = _ak_unicodedata.normalize("NFKD", value)
        value = "".join(c for c in value if ord(c) < 128)
    value = _ak_re.sub(r"[^\w\s-]", "", value.lower())
    return _ak_re.sub(r"[-\s]+", "-", value).strip("-_")


# ---- ipaddress (the part expressions use) ----


def _ak_parse_v4(text):
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(repr(text) + " does not appear to be an IPv4 or IPv6 address")
    value = 0
    for part in parts:
        if not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            raise ValueError(repr(text) + " does not appear to be an IPv4 or IPv6 address")
        octet = int(part)
        if octet > 255:
            raise ValueError(repr(text) + " does not appear to be an IPv4 or IPv6 address")
        value = value * 256 + octet
    return value


def _ak_parse_v6(text):
    bad = repr(text) + " does not appear to be an IPv4 or IPv6 address"
    if "." in text:
        head, _, tail = text.rpartition(":")
        v4 = _ak_parse_v4(tail)
        text = head + ":" + f"{v4 >> 16:x}:{v4 & 65535:x}"
    if text.count("::") > 1:
        raise ValueError(bad)
    if "::" in text:
        head, _, tail = text.partition("::")
        left = head.split(":") if head else []
        right = tail.split(":") if tail else []
        missing = 8 - len(left) - len(right)
        if missing < 1:
            raise ValueError(bad)
        parts = left + ["0"] * missing + right
    else:
        parts = text.split(":")
    if len(parts) != 8:
        raise ValueError(bad)
    value = 0
    for part in parts:
        if not 1 <= len(part) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in part):
            raise ValueError(bad)
        value = value * 65536 + int(part, 16)
    return value


# Python's `is_private` ranges, as (network, prefix length).
_AK_PRIVATE = {
    4: [(0x00000000, 8), (0x0A000000, 8), (0x7F000000, 8), (0xA9FE0000, 16), (0xAC100000, 12),
        (0xC0000000, 29), (0xC00000AA, 31), (0xC0000200, 24), (0xC0A80000, 16), (0xC6120000, 15),
        (0xC6336400, 24), (0xCB007100, 24), (0xF0000000, 4), (0xFFFFFFFF, 32)],
    6: [(1, 128), (0, 128), (0xFFFF << 32, 96), (0x0100 << 112, 64), (0x2001 << 112, 23),
        (0x20010DB8 << 96, 32), (0x20010010 << 96, 28), (0xFC00 << 112, 7), (0xFE80 << 112, 10)],
}
_AK_SHARED_V4 = (0x64400000, 10)


def _ak_in(version, value, network, prefix):
    shift = (32 if version == 4 else 128) - prefix
    return (value >> shift) == (network >> shift)


class _AkIPAddress:
    def __init__(self, version, value):
        self.version = version
        self._value = value
        self.max_prefixlen = 32 if version == 4 else 128
        self.is_private = any(_ak_in(version, value, n, p) for n, p in _AK_PRIVATE[version])
        shared = version == 4 and _ak_in(4, value, _AK_SHARED_V4[0], _AK_SHARED_V4[1])
        self.is_global = not self.is_private and not shared
        if version == 4:
            self.is_loopback = _ak_in(4, value, 0x7F000000, 8)
            self.is_link_local = _ak_in(4, value, 0xA9FE0000, 16)
            self.is_multicast = _ak_in(4, value, 0xE0000000, 4)
        else:
            self.is_loopback = value == 1
            self.is_link_local = _ak_in(6, value, 0xFE80 << 112, 10)
            self.is_multicast = _ak_in(6, value, 0xFF00 << 112, 8)

    def __int__(self):
        return self._value

    def __eq__(self, other):
        return isinstance(other, _AkIPAddress) and other.version == self.version and other._value == self._value

    def __hash__(self):
        return hash((self.version, self._value))

    def __str__(self):
        if self.version == 4:
            v = self._value
            return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
        words = [(self._value >> (112 - 16 * i)) & 65535 for i in range(8)]
        # The longest run of zero words (two or more) becomes "::".
        best_start, best_len, start = -1, 0, -1
        for i in range(9):
            if i < 8 and words[i] == 0:
                if start < 0:
                    start = i
            elif start >= 0:
                if i - start > best_len:
                    best_start, best_len = start, i - start
                start = -1
        hexes = [f"{w:x}" for w in words]
        if best_len < 2:
            return ":".join(hexes)
        return ":".join(hexes[:best_start]) + "::" + ":".join(hexes[best_start + best_len:])

    def __repr__(self):
        return ("IPv4Address('" if self.version == 4 else "IPv6Address('") + str(self) + "')"


class _AkIPNetwork:
    def __init__(self, address, prefixlen):
        self.network_address = address
        self.prefixlen = prefixlen
        self.version = address.version
        self.max_prefixlen = address.max_prefixlen
        self.num_addresses = 1 << (self.max_prefixlen - prefixlen)
        self.broadcast_address = _AkIPAddress(self.version, address._value | (self.num_addresses - 1))

    def __contains__(self, item):
        if not isinstance(item, _AkIPAddress) or item.version != self.version:
            return False
        return _ak_in(self.version, item._value, self.network_address._value, self.prefixlen)

    def __eq__(self, other):
        return isinstance(other, _AkIPNetwork) and other.network_address == self.network_address and other.prefixlen == self.prefixlen

    def __hash__(self):
        return hash((self.network_address, self.prefixlen))

    def __str__(self):
        return str(self.network_address) + "/" + str(self.prefixlen)

    def __repr__(self):
        return ("IPv4Network('" if self.version == 4 else "IPv6Network('") + str(self) + "')"


def ip_address(address):
    if isinstance(address, _AkIPAddress):
        return address
    if isinstance(address, int):
        if address < 0 or address >= 1 << 128:
            raise ValueError(repr(address) + " does not appear to be an IPv4 or IPv6 address")
        return _AkIPAddress(4 if address < 1 << 32 else 6, address)
    text = str(address)
    if ":" in text:
        return _AkIPAddress(6, _ak_parse_v6(text.split("%")[0]))
    return _AkIPAddress(4, _ak_parse_v4(text))


def ip_network(address, strict=True):
    if isinstance(address, _AkIPNetwork):
        return address
    text = str(address)
    addr_text, sep, prefix_text = text.partition("/")
    addr = ip_address(addr_text)
    if not sep:
        prefix = addr.max_prefixlen
    elif prefix_text.isdigit() and int(prefix_text) <= addr.max_prefixlen:
        prefix = int(prefix_text)
    else:
        raise ValueError(repr(text) + " does not appear to be an IPv4 or IPv6 network")
    shift = addr.max_prefixlen - prefix
    base = (addr._value >> shift) << shift
    if base != addr._value:
        if strict:
            raise ValueError(text + " has host bits set")
        addr = _AkIPAddress(addr.version, base)
    return _AkIPNetwork(addr, prefix)


# ---- imports keyflow provides (the expression's import lines are bound through _ak_import) ----


class _AkModule:
    def __init__(self, name, members):
        self.__name__ = name
        for key, value in members.items():
            setattr(self, key, value)


_AK_CONSTANTS = {
    "USER_ATTRIBUTE_DEBUG": "goauthentik.io/user/debug",
    "USER_ATTRIBUTE_GENERATED": "goauthentik.io/user/generated",
    "USER_ATTRIBUTE_EXPIRES": "goauthentik.io/user/expires",
    "USER_ATTRIBUTE_DELETE_ON_LOGOUT": "goauthentik.io/user/delete-on-logout",
    "USER_ATTRIBUTE_SOURCES": "goauthentik.io/user/sources",
    "USER_ATTRIBUTE_TOKEN_EXPIRING": "goauthentik.io/user/token-expires",
    "USER_ATTRIBUTE_TOKEN_MAXIMUM_LIFETIME": "goauthentik.io/user/token-maximum-lifetime",
    "USER_ATTRIBUTE_CHANGE_USERNAME": "goauthentik.io/user/can-change-username",
    "USER_ATTRIBUTE_CHANGE_NAME": "goauthentik.io/user/can-change-name",
    "USER_ATTRIBUTE_CHANGE_EMAIL": "goauthentik.io/user/can-change-email",
    "USER_PATH_SYSTEM_PREFIX": "goauthentik.io",
    "PLAN_CONTEXT_PENDING_USER": "pending_user",
    "PLAN_CONTEXT_PENDING_USER_IDENTIFIER": "pending_user_identifier",
    "PLAN_CONTEXT_PROMPT": "prompt_data",
    "PLAN_CONTEXT_APPLICATION": "application",
    "PLAN_CONTEXT_REDIRECT": "redirect",
    "PLAN_CONTEXT_SSO": "is_sso",
    "PLAN_CONTEXT_SOURCE": "source",
    "PLAN_CONTEXT_IS_RESTORED": "is_restored",
    "PLAN_CONTEXT_IS_REDIRECTED": "is_redirected",
    "PLAN_CONTEXT_AUTHENTICATION_BACKEND": "user_backend",
    "PLAN_CONTEXT_METHOD": "auth_method",
    "PLAN_CONTEXT_METHOD_ARGS": "auth_method_args",
}


def _ak_now():
    return _ak_clock


_AK_MODULES = {
    "ipaddress": {
        "ip_address": ip_address,
        "ip_network": ip_network,
        "IPv4Address": lambda a: ip_address(a),
        "IPv6Address": lambda a: ip_address(a),
        "IPv4Network": lambda a, strict=True: ip_network(a, strict),
        "IPv6Network": lambda a, strict=True: ip_network(a, strict),
    },
    "django.utils.timezone": {"now": _ak_now, "utc": _ak_datetime.timezone.utc},
    "django.utils.text": {"slugify": slugify},
}


def _ak_unavailable(path):
    # A class named after the import: using it fails with a message that names it.
    return type(path + " (not available in keyflow expressions)", (), {})


def _ak_module(name):
    members = _AK_MODULES.get(name)
    if members is None:
        return None
    return _AkModule(name, members)


def _ak_import(module, name=None):
    """What `from module import name` (or `import module`, name None) binds."""
    root = module.split(".")[0]
    if root not in ("authentik", "django", "ipaddress"):
        raise ImportError("module " + repr(module) + " is not available in keyflow expressions")
    if name is None:
        # `import a.b.c` binds `a`, with `b` and `c` reachable as attributes.
        parts = module.split(".")
        node = _ak_module(module) or _AkModule(module, {})
        for i in range(len(parts) - 1, 0, -1):
            parent = _ak_module(".".join(parts[:i])) or _AkModule(".".join(parts[:i]), {})
            setattr(parent, parts[i], node)
            node = parent
        return node
    members = _AK_MODULES.get(module, {})
    if name in members:
        return members[name]
    if name in _AK_CONSTANTS:
        return _AK_CONSTANTS[name]
    sub = _ak_module(module + "." + name)
    if sub is not None:
        return sub
    return _ak_unavailable(module + "." + name)


# ---- the request ----


class _AkObject:
    def __init__(self, members):
        for key, value in members.items():
            setattr(self, key, value)


class _AkFlowPlan:
    def __init__(self, context, flow_pk):
        self.context = context
        self.flow_pk = flow_pk


_ak_clock = _ak_input["now"]
context = _ak_input["context"]
if _ak_input["pending_user"] is not None:
    context["pending_user"] = User(_ak_input["pending_user"])
context["flow_plan"] = _AkFlowPlan(context, _ak_input["flow_pk"])
ak_is_sso_flow = bool(context.get("is_sso", False))
_ak_http = _ak_input["http_request"]
_ak_client = _ak_input["client_ip"]
ak_client_ip = None if _ak_client is None else _AkIPAddress(_ak_client[0], _ak_client[1])
_ak_tenant = _AkObject(_ak_input["tenant"])
_ak_http["tenant"] = _ak_tenant
_ak_http["brand"] = _ak_tenant
_ak_http["META"] = {"REMOTE_ADDR": _ak_http["client_ip"], "HTTP_USER_AGENT": _ak_http["user_agent"]}
request = _AkObject(
    {
        "user": User(_ak_input["user"]),
        "context": context,
        "http_request": _AkObject(_ak_http),
        "obj": None,
    }
)
# Prompt and property-mapping expressions read these (authentik's PropertyMappingEvaluator).
user = request.user
prompt_context = _ak_input.get("prompt_context", {})


def _ak_export(value):
    """Plan-context values as plain data for keyflow: users become a marker dict."""
    if isinstance(value, User):
        out = {"__ak_user__": True, "pk": value.pk, "username": value.username, "email": value.email}
        if hasattr(value, "backend"):
            out["backend"] = value.backend
        return out
    if isinstance(value, dict):
        return {str(k): _ak_export(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_ak_export(v) for v in value]
    if isinstance(value, (_ak_datetime.datetime, _ak_datetime.date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _ak_finish(result):
    exported = {}
    for key, value in context.items():
        if key != "flow_plan":
            exported[key] = _ak_export(value)
    passing = result is not None and bool(result)
    return (passing, _ak_messages, exported, _ak_logs, _ak_export(result))
