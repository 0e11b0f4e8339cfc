"""The project's own fuzz check: input that the OpenAPI document calls valid must not be refused
as invalid. A request generated from the schema (schemathesis's positive mode) that is answered
400 ERR_VALIDATION means a constraint the server enforces is missing from the document, so a
client written from the document would send it.

The run fails when an operation refuses most of the schema-valid input it was sent: that is a
schema that does not describe its parser. A rarer refusal (an edge case the generator found this
time) is printed with its field and message, so that it can be written into the schema, but does
not fail the run on its own: the fuzzer draws new data every run, and CI must not turn red on a
draw.

Rules that JSON Schema cannot state are named here and not counted: the contract refuses `42.0`
where JSON Schema's `integer` admits it (00-conventions §1.5); `format` (date-time, uri) is an
annotation that generators need not honour; and some rules weigh one value against another or
against the clock (since before until, a window of at most 366 days, a batch timestamp at most 30
days old or 5 minutes ahead, an invite that expires in the future, a slug that a chat's visibility
requires or forbids, the days a Premium grant requires, two key blobs for one device, a history
page asked both after and before an id)."""

from collections import defaultdict

import schemathesis

NOT_EXPRESSIBLE = (
    "must be an integer",
    "must be a valid timestamp",
    "must be a valid URL",
    "must be before until",
    "must be later than since",
    "days before until",
    "days in the past",
    "in the future",
    "must be null for private chats",
    "is required for official and public chats",
    "duration_days is required",
    "repeats a device",
    "cannot be combined with",
)

# An operation fails the run when more than this share of at least `MIN_CASES` schema-valid
# requests were refused as invalid.
MOSTLY = 0.5
MIN_CASES = 5


def has_integral_float(value):
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(has_integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_integral_float(v) for v in value)
    return False


def refusal(response, case):
    """The field and message of a refusal the schema should have prevented, or None."""
    if response.status_code != 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("code") != "ERR_VALIDATION":
        return None
    message = str(body.get("error"))
    if any(rule in message for rule in NOT_EXPRESSIBLE):
        return None
    if ("integer" in message or "must be one of" in message) and has_integral_float(case.body):
        # 3.0 for an integer (or for a number among `1, 2, 3`): refused by the contract.
        return None
    return (str(body.get("field")), message)


@schemathesis.check
class schema_valid_input_is_accepted:
    """Fail an operation that refuses most of the input its own schema calls valid."""

    def __init__(self):
        # Sets of case ids, so that replays and shrinking count a case once.
        self.valid = defaultdict(set)
        self.refused = defaultdict(set)
        self.reasons = defaultdict(set)

    def after_response(self, ctx, response, case):
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive:
            return
        label = case.operation.label
        self.valid[label].add(case.id)
        found = refusal(response, case)
        if found is not None:
            self.refused[label].add(case.id)
            if found not in self.reasons[label]:
                self.reasons[label].add(found)
                print(f"fuzz-checks: {label} refused schema-valid input: {found[0]}: {found[1]}", flush=True)

    def after_run(self, ctx):
        mostly = [
            f"{label} ({len(self.refused[label])} of {len(cases)}: "
            + "; ".join(f"{field}: {message}" for field, message in sorted(self.reasons[label]))
            + ")"
            for label, cases in sorted(self.valid.items())
            if len(cases) >= MIN_CASES and len(self.refused[label]) > MOSTLY * len(cases)
        ]
        if mostly:
            raise AssertionError("operations that refuse most of their schema-valid input: " + ", ".join(mostly))


# The one server error the contract gives as an answer that the fuzz server is meant to give: it
# runs without a browser engine (as root, without `browser.process.no_sandbox`), so a start of a
# chat's browser machine is 503 ERR_BROWSER_DISABLED (92-browser-rooms §6.1, §6.3).
DOCUMENTED_SERVER_ERRORS = {
    ("POST", "/v1/portal/chats/{chat_id}/start"): {(503, "ERR_BROWSER_DISABLED")},
    ("POST", "/v1/admin/chats/{chat_id}/start"): {(503, "ERR_BROWSER_DISABLED")},
}


@schemathesis.check
def not_a_server_error_but_the_documented_one(ctx, response, case):
    """Every 5xx fails the run, as schemathesis's `not_a_server_error` does, except the exact
    status and code the contract documents for this operation in the fuzz server's set-up."""
    if response.status_code < 500:
        return None
    operation = (case.operation.method.upper(), case.operation.path)
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    if (response.status_code, code) in DOCUMENTED_SERVER_ERRORS.get(operation, set()):
        return None
    raise AssertionError(f"Server error {response.status_code} {code} on {operation[0]} {operation[1]}")
