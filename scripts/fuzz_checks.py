"""The project's own fuzz check: input that the OpenAPI document calls valid must not be refused
as invalid. A request generated from the schema (schemathesis's positive mode) that is answered
400 ERR_VALIDATION means a constraint the server enforces is missing from the document, so a
client written from the document would send it.

Rules that JSON Schema cannot state are named here and not counted: the contract refuses `42.0`
where JSON Schema's `integer` admits it (00-conventions §1.5); `format` (date-time, uri) is an
annotation that generators need not honour; and some rules weigh one value against another or
against the clock (since before until, a window of at most 366 days, a batch timestamp at most 30
days old or 5 minutes ahead, an invite that expires in the future, a slug that a chat's visibility
requires or forbids, the days a Premium grant requires)."""

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
)


def has_integral_float(value):
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(has_integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_integral_float(v) for v in value)
    return False


@schemathesis.check
def schema_valid_input_is_accepted(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
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
    if "integer" in message or "must be one of" in message:
        if has_integral_float(case.body):
            # 3.0 for an integer (or for a number among `1, 2, 3`): refused by the contract.
            return None
    raise AssertionError(f"input the document calls valid was refused: {body.get('field')}: {message}")
