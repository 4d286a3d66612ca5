"""What an agent sends as a reply: text, and on some channels a template or a file by link."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cti.api.schemas import Body


class TemplateRef(Body):
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$", description="an approved template's name")
    parameters: list[str] = Field(default_factory=list, max_length=10,
                                  description="the body's parameters in order ({{1}}, {{2}}...)")

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 1024 for p in v):
            raise ValueError("each parameter is 1-1024 characters")
        return v


class MediaRef(Body):
    url: str = Field(min_length=12, max_length=2000, pattern=r"^https://[^\s]+$",
                     description="where the network fetches the file (public HTTPS)")
    type: Literal["image", "document", "audio", "video"]
    filename: str | None = Field(default=None, max_length=240, pattern=r"^[^/\\\x00-\x1f]+$",
                                 description="a document's name as the customer sees it")


class ReplyBody(Body):
    text: str = Field(min_length=1, max_length=100_000,
                      description="the reply; with a template, the text the case's timeline shows for it; "
                                  "with media, its caption")
    mode: Literal["public", "private", "template"] | None = None
    template: TemplateRef | None = Field(default=None, description="mode template (WhatsApp outside its 24-hour "
                                                                   "window): the template to send")
    media: MediaRef | None = Field(default=None, description="a file to send with the text (WhatsApp): 422 "
                                                             "media_not_supported on channels that cannot")

    @model_validator(mode="after")
    def _template_with_its_mode(self) -> ReplyBody:
        if (self.mode == "template") != (self.template is not None):
            raise ValueError("mode template and a template go together")
        if self.media is not None and self.template is not None:
            raise ValueError("a template or media, not both")
        return self
