"""The JSON API's bodies as pydantic models: the requests it reads, parsed with them, and the
answers it gives, which petitions.web.api.openapi publishes as the document's schemas."""

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
)

from petitions.signatures.signing import MAX_MEMBER_NUMBER

Slug = Annotated[str, Field(pattern="^[a-z0-9-]{1,64}$")]
Count = Annotated[int, Field(ge=0)]
State = Literal["open", "triggered", "closed"]
Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description="A SHA-256 hash, hex.")]
MailDelay = Annotated[int, Field(ge=1)]


# --- requests -----------------------------------------------------------------------------------


class BodyRefused(Exception):
    """A request body that does not fit its model: ``code`` and the message are the error the
    API answers with (400)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class RequestBody(BaseModel):
    """A request's JSON body. Strict: JSON's 42 is not the string "42"."""

    model_config = ConfigDict(strict=True)

    # The error (code, message) for a body that is not a JSON object (None) and for each field
    # that does not fit; a body with several faults gets the one for the first field.
    refusals: ClassVar[dict[str | None, tuple[str, str]]]

    @classmethod
    def parse(cls, body: Any) -> Self:
        """``body`` (parsed JSON, or None where the request held none) as this model; raises
        BodyRefused where it does not fit."""
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            where = exc.errors()[0]["loc"]
            code, message = cls.refusals.get(where[0] if where else None, cls.refusals[None])
            raise BodyRefused(code, message) from None


def _number_as_text(value: Any) -> Any:
    # A membership number sent as a JSON number is taken as its digits; JSON's true and false,
    # which are ints to Python, are not numbers here.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class SignRequest(RequestBody):
    """A request to sign a petition."""

    refusals: ClassVar = {
        None: ("invalid_json", 'send a JSON object: {"email": "..."}'),
        "email": ("invalid_email", "email is required, as a string"),
        "member_id": ("invalid_member_id", "member_id must be a string"),
    }

    email: str = Field(description="The address, as the member types it.")
    # Its length is checked, after trimming, where the sign form's is (petitions.signatures).
    member_id: Annotated[str | None, BeforeValidator(_number_as_text)] = Field(
        default=None,
        description="The membership number; needed where members share an address.",
        json_schema_extra={"maxLength": MAX_MEMBER_NUMBER},
    )


class ConfirmRequest(RequestBody):
    """A confirmation of the signature an e-mailed link names."""

    refusals: ClassVar = {None: ("invalid_token", 'send a JSON object: {"token": "..."}')}

    token: str = Field(min_length=1, description="The token of an e-mailed link.")


# --- answers ------------------------------------------------------------------------------------


class Answer(BaseModel):
    """A JSON answer: the document lists every field it has, and it has no others."""

    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    """What went wrong."""

    error: str = Field(description="A stable code, e.g. not_found.")
    message: str = Field(description="A sentence for people.")


class RateLimited(Error):
    """A request over a rate limit: what to do now, and when to try again."""

    limit: Literal["sign", "confirm", "sign-in"] = Field(
        description="Which limit: asking to sign, confirming a link, or signing in."
    )
    advice: str = Field(
        description="A sentence for people: the link sent earlier still works, and where to "
        "look for it."
    )
    retry_after_seconds: int = Field(ge=1, description="The Retry-After header's seconds.")
    retry_after_minutes: int = Field(
        ge=1, description="The same wait in whole minutes, rounded up."
    )


class PetitionLog(Answer):
    """The head of a petition's public log."""

    size: Count
    root_hash: Sha256 = Field(description="The tree hash.")


class Petition(Answer):
    """A published petition."""

    slug: Slug
    title: str
    state: State = Field(
        description="The state now: a petition past its closing time is closed. "
        "Drafts are not published (404)."
    )
    count: Count = Field(description="Confirmed signatures.")
    threshold: int = Field(ge=1, description="Signatures needed, frozen when the petition opened.")
    reached_at: AwareDatetime | None = Field(
        description="When the threshold was met (UTC), or null."
    )
    closes_at: AwareDatetime | None = Field(description="When signing stops (UTC), or null.")
    by_region: dict[str, Count] = Field(
        description="Confirmed signatures per region of the signing members."
    )
    log: PetitionLog | None = Field(
        description="The head of the petition's public log; null until the log exists."
    )
    mail_delay_seconds: MailDelay | None = Field(
        description="While links are arriving slowly (the estimated delay is "
        "MAIL_SLOW_AFTER_SECONDS or more) and the petition takes signatures: about how many "
        "seconds a link asked for now takes to be sent. Null when links arrive as usual."
    )
    name_reports: Count = Field(
        description='Signatures reported by the member named: members who asked "Was my '
        'name used?" and reported, from the answer mailed to them, a signature they did not '
        "make. Every scrutineer is told of each; one report per signature."
    )


class LiveCount(Answer):
    """A published petition's count, as pages poll it."""

    slug: Slug
    count: Count = Field(description="Confirmed signatures.")
    threshold: int = Field(ge=1)
    state: State
    reached_at: AwareDatetime | None = Field(
        description="When the threshold was met (UTC), or null."
    )
    log_size: Count = Field(
        description="Leaves in the petition's public log (signatures and cancellations)."
    )


class Health(Answer):
    """Whether what the service needs answers."""

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    queue: Literal["ok", "unavailable", "not_configured"]


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


class CheckEmail(Answer):
    """The request is taken; what happens next is said only in the e-mail."""

    status: Literal["check_email"]
    # Absent, never null, while links arrive as usual, so that the answer is then exactly
    # {"status": "check_email"}, as it always was.
    mail_delay_seconds: MailDelay = Field(
        default=None,
        description="Only while links are arriving slowly: about how many seconds the link "
        "takes to be sent. It is the same for every request at the same moment.",
        json_schema_extra=_no_default,
    )


class Receipt(Answer):
    """Which signature this is."""

    petition: Slug
    number: int = Field(ge=1)
    confirmed_at: AwareDatetime
    leaf_index: Count = Field(description="The signature's log leaf.")
    leaf_hash: Sha256 = Field(description="Its leaf hash, hex.")


class Confirmed(Answer):
    """The signature is confirmed and counted."""

    status: Literal["confirmed"]
    receipt: Receipt


class AlreadySigned(Answer):
    """The member had signed already; nothing changed."""

    status: Literal["already_signed"]


class ConfirmAnswer(RootModel):
    """confirmed (with a receipt) or already_signed."""

    root: Annotated[Confirmed | AlreadySigned, Field(discriminator="status")]


class Head(Answer):
    """A signed tree head."""

    size: Count
    root_hash: Sha256 = Field(description="The RFC 6962 tree hash.")
    timestamp: AwareDatetime
    signature: str = Field(
        description="Base64 Ed25519 signature of the canonical JSON "
        '{"petition","root_hash","size","timestamp"} (sorted keys, no spaces).'
    )


class Leaf(Answer):
    """One leaf of a log."""

    index: Count
    leaf_input: str = Field(description="The leaf's bytes, base64.")
    leaf_hash: Sha256 = Field(description="SHA-256(0x00 || leaf), hex.")


class Leaves(Answer):
    """A page of a log's leaves, in order."""

    size: Count = Field(description="Leaves in the log.")
    start: Count = Field(description="The index of the first leaf on this page.")
    leaves: list[Leaf]
    next: Count | None = Field(description="start of the next page; null on the last")


class InclusionProof(Answer):
    """The RFC 6962 audit path of a leaf."""

    index: Count
    size: int = Field(ge=1)
    leaf_hash: Sha256
    audit_path: list[Sha256]


class CancellingLeaf(Leaf):
    """A leaf that cancels a signature leaf, with what it says."""

    type: Literal["invalidation", "withdrawal"]
    reason: str = Field(description="The published reason code, as in the leaf.")
    reason_text: str = Field(description="The reason in words, for people.")
    time: AwareDatetime = Field(description="When the leaf was added, as in the leaf.")


class Cancellations(Answer):
    """The leaves that cancel one signature leaf: none while it counts."""

    index: Count = Field(description="The signature leaf asked about.")
    cancelled_by: list[CancellingLeaf] = Field(description="Oldest first.")


class ConsistencyProof(Answer):
    """The RFC 6962 proof that one tree is a prefix of another."""

    first: int = Field(ge=1)
    second: int = Field(ge=1)
    consistency: list[Sha256]


class PublicKey(Answer):
    """The key that signs tree heads."""

    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="The raw 32-byte public key, base64.")


REQUESTS = (SignRequest, ConfirmRequest)
ANSWERS = (
    Error,
    RateLimited,
    Petition,
    LiveCount,
    Health,
    CheckEmail,
    ConfirmAnswer,
    Head,
    Leaves,
    InclusionProof,
    Cancellations,
    ConsistencyProof,
    PublicKey,
)
