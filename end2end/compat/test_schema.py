"""keyflow against authentik's own API client (``authentik-client``, strict pydantic models).

Two modes, chosen by the environment:

* ``KEYFLOW_CHALLENGE_DUMP=<dir>``: every JSON file the Rust integration tests dumped there is
  parsed with the model its ``component`` (challenges) or file name (``api-<Model>-…``) names.
  Run ``KEYFLOW_CHALLENGE_DUMP=<dir> cargo test -p keyflow`` first; an empty directory fails.
* otherwise: a live server at ``KEYFLOW_BASE_URL`` (default http://localhost:3000) is driven
  through a login and logout with ``requests`` (following redirects, as authentik's clients
  do), and its admin API through the generated ``CoreApi`` when an API token is given.
  Credentials: ``KEYFLOW_TEST_USERNAME`` (default akadmin) and ``KEYFLOW_TEST_PASSWORD`` or
  ``KEYFLOW_BOOTSTRAP_PASSWORD``; token ``KEYFLOW_TEST_TOKEN`` or ``KEYFLOW_BOOTSTRAP_TOKEN``.

"Strict" means: the model's own ``from_dict`` must accept the body (types, required fields),
and no object anywhere in it may carry a key the model does not declare. Models are picked by
``component`` directly; the ``ChallengeTypes`` oneOf wrapper is not used because several of its
schemas match the same body.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from pydantic import BaseModel



def _import_authentik_client_lazily() -> None:
    """``import authentik_client`` loads all ~900 models and every API up front (about 20 s).
    Registering its packages without running their ``__init__`` lets each module load on first
    use instead; ``authentik_client.models.<Name>`` (which the API client's deserialiser looks
    up) is resolved from the package's own ``name -> module`` list."""
    import importlib
    import importlib.util
    import re
    import sys
    import types

    if "authentik_client" in sys.modules:
        return
    for name in ("authentik_client", "authentik_client.api", "authentik_client.models"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            return  # an unexpected layout: fall back to the plain (slow) import
        package = types.ModuleType(name)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)
    models = sys.modules["authentik_client.models"]
    index = pathlib.Path(models.__path__[0], "__init__.py").read_text()
    where = dict(
        (cls, module)
        for module, cls in re.findall(r"^from authentik_client\.models\.(\w+) import (\w+)$", index, re.M)
    )

    def resolve(name: str) -> Any:
        if name not in where:
            raise AttributeError(name)
        value = getattr(importlib.import_module(f"authentik_client.models.{where[name]}"), name)
        setattr(models, name, value)
        return value

    models.__getattr__ = resolve  # type: ignore[attr-defined]


_import_authentik_client_lazily()

from authentik_client.api.core_api import CoreApi  # noqa: E402
from authentik_client.api_client import ApiClient  # noqa: E402
from authentik_client.configuration import Configuration  # noqa: E402
from authentik_client.models import (  # noqa: E402
    AccessDeniedChallenge,
    AuthenticatorEmailChallenge,
    AuthenticatorSMSChallenge,
    AuthenticatorStaticChallenge,
    AuthenticatorTOTPChallenge,
    AuthenticatorValidationChallenge,
    AuthenticatorWebAuthnChallenge,
    CaptchaChallenge,
    ConsentChallenge,
    EmailChallenge,
    EmailDevice,
    FlowDiagram,
    FlowErrorChallenge,
    Group,
    IdentificationChallenge,
    Invitation,
    PaginatedEmailDeviceList,
    PaginatedGroupList,
    PaginatedInvitationList,
    PaginatedUserList,
    PasswordChallenge,
    PromptChallenge,
    RedirectChallenge,
    SessionUser,
    User,
    UserLoginChallenge,
    UserPasswordSetRequest,
    UserRequest,
)

CHALLENGE_MODELS: dict[str, type[BaseModel]] = {
    "ak-stage-identification": IdentificationChallenge,
    "ak-stage-password": PasswordChallenge,
    "ak-stage-access-denied": AccessDeniedChallenge,
    "ak-stage-flow-error": FlowErrorChallenge,
    "ak-stage-user-login": UserLoginChallenge,
    "xak-flow-redirect": RedirectChallenge,
    "ak-stage-authenticator-totp": AuthenticatorTOTPChallenge,
    "ak-stage-authenticator-static": AuthenticatorStaticChallenge,
    "ak-stage-authenticator-validate": AuthenticatorValidationChallenge,
    "ak-stage-authenticator-webauthn": AuthenticatorWebAuthnChallenge,
    "ak-stage-prompt": PromptChallenge,
    "ak-stage-email": EmailChallenge,
    "ak-stage-consent": ConsentChallenge,
    "ak-stage-authenticator-email": AuthenticatorEmailChallenge,
    "ak-stage-captcha": CaptchaChallenge,
    "ak-stage-authenticator-sms": AuthenticatorSMSChallenge,
}
API_MODELS: dict[str, type[BaseModel]] = {
    "SessionUser": SessionUser,
    "PaginatedUserList": PaginatedUserList,
    "User": User,
    "Invitation": Invitation,
    "PaginatedInvitationList": PaginatedInvitationList,
    "EmailDevice": EmailDevice,
    "PaginatedEmailDeviceList": PaginatedEmailDeviceList,
    "FlowDiagram": FlowDiagram,
    "Group": Group,
    "PaginatedGroupList": PaginatedGroupList,
}
# The admin object API (flows, bindings, stages, prompts, policies; server/tests/integration/admin_flows_api.rs):
# each model and its paginated list, resolved by name from the client's models.
_STAGE_MODELS = [
    "IdentificationStage", "PasswordStage", "UserLoginStage", "UserLogoutStage", "DenyStage",
    "PromptStage", "UserWriteStage", "UserDeleteStage", "InvitationStage", "EmailStage",
    "CaptchaStage", "ConsentStage", "RedirectStage", "AuthenticatorSMSStage",
    "AuthenticatorDuoStage", "AuthenticatorEmailStage", "AuthenticatorWebAuthnStage",
    "AuthenticatorTOTPStage", "AuthenticatorStaticStage", "AuthenticatorValidateStage",
]
_ADMIN_OBJECT_MODELS = [
    "Flow", "FlowStageBinding", "Stage", "UsedBy", "Prompt", "Policy", "ExpressionPolicy",
    "PasswordPolicy", "ReputationPolicy", "PolicyBinding", "TypeCreate", "Event", "Device",
    "AuthenticatedSession", "Link", *_STAGE_MODELS,
]
for _name in _ADMIN_OBJECT_MODELS:
    API_MODELS[_name] = getattr(sys.modules["authentik_client.models"], _name)
    try:
        API_MODELS[f"Paginated{_name}List"] = getattr(sys.modules["authentik_client.models"], f"Paginated{_name}List")
    except AttributeError:
        pass  # UsedBy comes as a plain list

DUMP_DIR = os.environ.get("KEYFLOW_CHALLENGE_DUMP", "")
BASE_URL = os.environ.get("KEYFLOW_BASE_URL", "http://localhost:3000").rstrip("/")
USERNAME = os.environ.get("KEYFLOW_TEST_USERNAME", "akadmin")
PASSWORD = os.environ.get("KEYFLOW_TEST_PASSWORD") or os.environ.get("KEYFLOW_BOOTSTRAP_PASSWORD")
TOKEN = os.environ.get("KEYFLOW_TEST_TOKEN") or os.environ.get("KEYFLOW_BOOTSTRAP_TOKEN")
AUTH_FLOW = "default-authentication-flow"
LOGOUT_FLOW = "default-invalidation-flow"

dump_mode = pytest.mark.skipif(not DUMP_DIR, reason="KEYFLOW_CHALLENGE_DUMP is not set (live mode)")
live_mode = pytest.mark.skipif(bool(DUMP_DIR), reason="KEYFLOW_CHALLENGE_DUMP is set (dump mode)")


# --- strict parsing -------------------------------------------------------------------------


def declared(model: type[BaseModel]) -> list[str]:
    """The wire keys a generated model declares (its private ``__properties`` list)."""
    return getattr(model, f"_{model.__name__}__properties")


def check_no_undeclared_keys(parsed: Any, raw: Any, where: str) -> None:
    """Walks the parsed model next to the raw JSON; every object must use declared keys only."""
    if isinstance(parsed, BaseModel) and isinstance(raw, dict):
        model = type(parsed)
        extra = sorted(set(raw) - set(declared(model)))
        assert not extra, f"{where}: keys {extra} are not in {model.__name__}"
        by_alias = {(field.alias or name): name for name, field in model.model_fields.items()}
        for key, value in raw.items():
            check_no_undeclared_keys(getattr(parsed, by_alias[key], None), value, f"{where}.{key}")
    elif isinstance(parsed, list) and isinstance(raw, list):
        for index, (item, raw_item) in enumerate(zip(parsed, raw)):
            check_no_undeclared_keys(item, raw_item, f"{where}[{index}]")
    elif isinstance(parsed, dict) and isinstance(raw, dict):
        for key, value in raw.items():
            check_no_undeclared_keys(parsed.get(key), value, f"{where}.{key}")


def strict(model: type[BaseModel], raw: Any, where: str = "$") -> BaseModel:
    assert isinstance(raw, dict), f"{where}: expected a JSON object, got {raw!r}"
    parsed = model.from_dict(raw)
    assert parsed is not None, f"{where}: {model.__name__}.from_dict returned None"
    check_no_undeclared_keys(parsed, raw, where)
    return parsed


def strict_challenge(raw: Any, where: str = "$") -> BaseModel:
    assert isinstance(raw, dict) and "component" in raw, f"{where}: not a challenge: {raw!r}"
    model = CHALLENGE_MODELS.get(raw["component"])
    assert model is not None, f"{where}: no model mapped for component {raw['component']!r}"
    return strict(model, raw, where)


def test_the_checker_rejects_undeclared_and_mistyped_keys() -> None:
    good = {"component": "xak-flow-redirect", "to": "/"}
    strict_challenge(good)
    with pytest.raises(AssertionError, match="surprise"):
        strict_challenge({**good, "surprise": 1})
    with pytest.raises(AssertionError, match="layout_extra"):
        strict_challenge(
            {
                **good,
                "flow_info": {"cancel_url": "/", "layout": "stacked", "layout_extra": 1},
            }
        )
    with pytest.raises(Exception):
        strict_challenge({"component": "xak-flow-redirect", "to": 5})
    with pytest.raises(Exception):
        strict_challenge({"component": "ak-stage-password", "pending_user_avatar": "/a.png"})


# --- dump mode ------------------------------------------------------------------------------


def dumped_files() -> list[pathlib.Path]:
    if not DUMP_DIR:
        return []
    return sorted(pathlib.Path(DUMP_DIR).glob("*.json"))


@dump_mode
def test_the_rust_tests_dumped_something() -> None:
    files = dumped_files()
    assert files, f"no JSON files in {DUMP_DIR}: run the Rust tests with KEYFLOW_CHALLENGE_DUMP set"
    assert any(f.name.startswith("challenge-") for f in files), "no challenges dumped"
    components = {json.loads(f.read_text())["component"] for f in files if f.name.startswith("challenge-")}
    missing = set(CHALLENGE_MODELS)
    assert missing <= components, f"the dump lacks {sorted(missing - components)}"


@dump_mode
@pytest.mark.parametrize("path", dumped_files(), ids=lambda p: p.name)
def test_dumped_body_parses_strictly(path: pathlib.Path) -> None:
    raw = json.loads(path.read_text())
    kind = path.name.split("-")[0:2]
    if kind[0] == "challenge":
        strict_challenge(raw, path.name)
    else:
        assert kind[0] == "api", f"unexpected dump file {path.name}"
        model = API_MODELS.get(kind[1])
        assert model is not None, f"no model for {path.name}"
        strict(model, raw, path.name)


# --- live mode ------------------------------------------------------------------------------


def executor(slug: str, query: str = "") -> str:
    return f"{BASE_URL}/api/v3/flows/executor/{slug}/?{urlencode({'query': query})}"


class Flow:
    """A browser-like session against the live executor; every answer is parsed strictly."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def _challenge(self, response: requests.Response) -> BaseModel:
        assert response.status_code == 200, f"{response.status_code}: {response.text}"
        return strict_challenge(response.json(), response.request.method + " " + response.url)

    def get(self, slug: str, query: str = "") -> BaseModel:
        return self._challenge(self.session.get(executor(slug, query), timeout=30))

    def post(self, slug: str, body: dict[str, Any], query: str = "", **headers: str) -> BaseModel:
        return self._challenge(
            self.session.post(executor(slug, query), json=body, headers=headers, timeout=30)
        )

    def csrf(self) -> dict[str, str]:
        token = self.session.cookies.get("keyflow_csrf") or self.session.cookies.get("authentik_csrf")
        return {"X-authentik-CSRF": token} if token else {}


@pytest.fixture(scope="module")
def live_server() -> str:
    try:
        requests.get(f"{BASE_URL}/-/health/live/", timeout=5).raise_for_status()
    except requests.RequestException as error:
        pytest.fail(f"no keyflow at {BASE_URL} ({error}); set KEYFLOW_BASE_URL or KEYFLOW_CHALLENGE_DUMP")
    if not PASSWORD:
        pytest.fail("set KEYFLOW_TEST_PASSWORD (or KEYFLOW_BOOTSTRAP_PASSWORD) for the live login")
    return BASE_URL


@live_mode
def test_live_login_and_logout_parse_strictly(live_server: str) -> None:
    flow = Flow()
    first = flow.get(AUTH_FLOW)
    assert isinstance(first, IdentificationChallenge)
    assert first.response_errors is None

    wrong_component = flow.post(AUTH_FLOW, {"component": "ak-stage-password", "password": "x"})
    assert isinstance(wrong_component, IdentificationChallenge)
    assert wrong_component.response_errors["uid_field"][0].code == "required"

    password = flow.post(AUTH_FLOW, {"component": "ak-stage-identification", "uid_field": USERNAME})
    assert isinstance(password, PasswordChallenge)
    assert password.pending_user == USERNAME

    wrong = flow.post(AUTH_FLOW, {"component": "ak-stage-password", "password": f"wrong-{uuid.uuid4()}"})
    assert isinstance(wrong, PasswordChallenge)
    assert [e.string for e in wrong.response_errors["password"]] == ["Invalid password"]

    done = flow.post(AUTH_FLOW, {"component": "ak-stage-password", "password": PASSWORD})
    assert isinstance(done, RedirectChallenge) and done.to == "/"

    me = flow.session.get(f"{BASE_URL}/api/v3/core/users/me/", timeout=30)
    assert me.status_code == 200, me.text
    session_user = strict(SessionUser, me.json(), "users/me")
    assert session_user.user.username == USERNAME

    # A signed-in POST needs the CSRF token; logging out through the invalidation flow with it.
    refused = flow.session.post(executor(LOGOUT_FLOW), json={}, timeout=30)
    assert refused.status_code == 403
    logout = flow.post(LOGOUT_FLOW, {}, **flow.csrf())
    assert isinstance(logout, RedirectChallenge)
    assert flow.session.get(f"{BASE_URL}/api/v3/core/users/me/", timeout=30).status_code == 403

    denied = flow.get(LOGOUT_FLOW, "next=https://evil.example/")
    assert isinstance(denied, AccessDeniedChallenge)
    assert denied.error_message == "Invalid next URL"

    unknown = flow.session.get(executor("no-such-flow"), timeout=30)
    assert unknown.status_code == 404


@live_mode
def test_live_unknown_user_and_lockout_parse_strictly(live_server: str) -> None:
    flow = Flow()
    flow.get(AUTH_FLOW)
    ghost = f"nobody-{uuid.uuid4().hex[:8]}"
    pretend = flow.post(AUTH_FLOW, {"component": "ak-stage-identification", "uid_field": ghost})
    assert isinstance(pretend, PasswordChallenge) and pretend.pending_user == ghost
    answers = [
        flow.post(AUTH_FLOW, {"component": "ak-stage-password", "password": f"guess-{n}"}) for n in range(5)
    ]
    assert all(isinstance(a, PasswordChallenge) for a in answers[:4])
    assert isinstance(answers[4], AccessDeniedChallenge)
    assert answers[4].error_message == "Invalid password"


@live_mode
def test_live_admin_api_through_the_generated_client(live_server: str) -> None:
    if not TOKEN:
        pytest.skip("no API token (KEYFLOW_TEST_TOKEN or KEYFLOW_BOOTSTRAP_TOKEN)")
    configuration = Configuration(host=f"{BASE_URL}/api/v3", access_token=TOKEN)
    with ApiClient(configuration) as client:
        core = CoreApi(client)
        # The typed calls prove the client can use the answers; the raw twins (same request,
        # body unparsed) are checked strictly for undeclared keys.
        assert core.core_users_me_retrieve().user.username == USERNAME
        strict(SessionUser, raw_json(core.core_users_me_retrieve_without_preload_content(), 200))

        username = f"compat-{uuid.uuid4().hex[:10]}"
        request = UserRequest(username=username, name="Compat Check", email=f"{username}@example.com")
        created = strict(User, raw_json(core.core_users_create_without_preload_content(request), 201))
        try:
            page = core.core_users_list(username=username)
            assert page.pagination.count == 1
            assert page.results[0].pk == created.pk
            listed = raw_json(core.core_users_list_without_preload_content(username=username), 200)
            strict(PaginatedUserList, listed, "users list")
            core.core_users_set_password_create(
                created.pk, UserPasswordSetRequest(password=f"Compat-{uuid.uuid4()}")
            )
        finally:
            core.core_users_destroy(created.pk)
        assert core.core_users_list(username=username).pagination.count == 0


def raw_json(response: Any, status: int) -> Any:
    """The body of a ``*_without_preload_content`` answer (a urllib3 response)."""
    body = response.read()
    assert response.status == status, f"{response.status}: {body!r}"
    return json.loads(body)
