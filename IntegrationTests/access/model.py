"""An independent model of docs/SECURITY.md's rules: who may do what, and what a refusal looks like.

- roles per namespace: reader {pull}, writer {pull, push}, maintainer and admin {pull, push, delete};
- a global administrator may do everything;
- a public namespace lets anyone (anonymous included) pull;
- an access token may do what its scopes say and its user may do (and, like anyone, pull public namespaces);
- wrong, expired or revoked credentials are refused everything (401), public pulls included.
"""

ROLE_ACTIONS = {"reader": {"pull"}, "writer": {"pull", "push"}, "maintainer": {"pull", "push", "delete"},
                "admin": {"pull", "push", "delete"}}
ALL = {"pull", "push", "delete"}
NAMESPACES = {"priv": "private", "pub": "public", "sec": "private"}
# Namespace roles of each user; `admin` is the global administrator.
GRANTS = {"reader": {"priv": "reader"}, "writer": {"priv": "writer", "pub": "writer"},
          "maintainer": {"priv": "maintainer"}, "nsadmin": {"priv": "admin"}, "admin": {}}
GLOBAL_ADMINS = {"admin"}
# The repositories seeded before the matrix runs (sources of mounts included).
SEEDED = ["priv/app", "pub/app", "priv/src", "sec/src"]


class Principal:
    """kind: user | token | anonymous (no credentials; in token mode, an anonymous token) |
    notoken (token mode only: no Authorization at all) | bad (credentials that must be refused)."""

    def __init__(self, name, kind, user=None, secret=None, scopes=(), token_id=None):
        self.name, self.kind, self.user, self.secret, self.scopes = name, kind, user, secret, list(scopes)
        self.token_id = token_id

    @property
    def authenticated(self):
        return self.kind in ("user", "token")

    def __repr__(self):
        return self.name


def parse_scope(scope):
    """`repository:a/b:pull,push` -> ("repository", "a/b", {"pull", "push"})."""
    kind, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return kind, name, set(a for a in actions.split(",") if a)


def scope_actions(scopes, repo):
    """What a token's scopes allow on `repo` (repository scopes by name, namespace scopes by first component)."""
    out = set()
    for scope in scopes:
        kind, name, actions = parse_scope(scope)
        if (kind == "repository" and name == repo) or (kind == "namespace" and name == repo.split("/")[0]):
            out |= actions
    return out


def user_actions(user, repo):
    if user in GLOBAL_ADMINS:
        return set(ALL)
    role = GRANTS.get(user, {}).get(repo.split("/")[0])
    return set(ROLE_ACTIONS.get(role, set()))


def actions(principal, repo):
    """What `principal` may do on `repo`."""
    if principal.kind in ("bad", "notoken"):
        return set()
    public = {"pull"} if NAMESPACES.get(repo.split("/")[0]) == "public" else set()
    if principal.kind == "anonymous":
        return public
    allowed = user_actions(principal.user, repo)
    if principal.kind == "token":
        allowed &= scope_actions(principal.scopes, repo)
    return allowed | public


def may(principal, repo, action):
    return action in actions(principal, repo)


def may_ping(mode, principal):
    """GET /v2/: any authenticated caller; in token mode any valid JWT, an anonymous one included."""
    if mode == "token":
        return principal.kind in ("user", "token", "anonymous")
    return principal.authenticated


def may_catalog(principal):
    """GET /v2/_catalog: anyone with valid (or no) credentials; in token mode any JWT (registry:catalog:*, which
    the token service grants to anyone, anonymous included: the listing is what is filtered)."""
    return principal.kind in ("user", "token", "anonymous")


def catalog(principal, repos):
    return sorted(r for r in repos if may(principal, r, "pull"))


def refusal(mode, principal):
    """(status, code, scheme, insufficient_scope) of a refused request; insufficient_scope None: not checked."""
    if mode == "basic":
        if principal.authenticated:
            return 403, "DENIED", None, None
        return 401, "UNAUTHORIZED", "basic", None
    if principal.kind in ("user", "token", "anonymous"):  # a JWT was presented
        return 401, "UNAUTHORIZED", "bearer", True
    if principal.kind == "notoken":
        return 401, "UNAUTHORIZED", "bearer", False
    return 401, "UNAUTHORIZED", "bearer", None  # bad credentials sent as Basic: any error parameter
