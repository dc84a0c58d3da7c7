"""Preflight of the advisor: the Anthropic key is accepted and the configured model exists
(one `GET /v1/models/{id}`, which costs no tokens)."""

from __future__ import annotations

from collections.abc import Sequence

from application.ports.preflight import CheckResult

MODEL_SETTING = "TREASURY_CLAUDE_MODEL"
KEY_SETTING = "ANTHROPIC_API_KEY"


class ClaudeModelCheck:
    """Asks the Models API for the configured model with the configured key."""

    name = "claude model"

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._api_key = api_key
        self._model = model
        self._base_url = base_url
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ClaudeModelCheck(model={self._model!r})"

    async def run(self) -> Sequence[CheckResult]:
        """One line; never raises."""
        if not self._api_key:
            return (
                CheckResult(
                    name=self.name,
                    ok=False,
                    detail="no API key",
                    fix=f"set {KEY_SETTING} (or use the rules advisor: TREASURY_ADVISOR=rules)",
                ),
            )
        # Loaded here: the SDK is about 75 MiB that a service with the rules advisor never uses.
        import anthropic

        client = anthropic.AsyncAnthropic(
            api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=self._timeout_s
        )
        try:
            info = await client.models.retrieve(self._model)
        except anthropic.AuthenticationError:
            return self._failed("the API key was refused (401)", f"set a valid {KEY_SETTING}")
        except anthropic.PermissionDeniedError:
            return self._failed(
                "the key may not use this model (403)",
                f"use a key with access, or another {MODEL_SETTING}",
            )
        except anthropic.NotFoundError:
            return self._failed(
                f"the Anthropic API has no model {self._model!r} (404)",
                f"set {MODEL_SETTING} to a current model id",
            )
        except anthropic.APIStatusError as exc:
            return self._failed(
                f"the Models API answered HTTP {exc.status_code}", "try again later"
            )
        except anthropic.APIConnectionError as exc:
            return self._failed(
                f"the Anthropic API could not be reached ({type(exc).__name__})",
                "check the network (and ANTHROPIC_BASE_URL if set)",
            )
        finally:
            await client.close()
        return (CheckResult(name=self.name, ok=True, detail=f"{info.id} available"),)

    def _failed(self, detail: str, fix: str) -> Sequence[CheckResult]:
        return (CheckResult(name=self.name, ok=False, detail=detail, fix=fix),)


class RulesAdvisorCheck:
    """The rules advisor has no outside world: always ok, and says so."""

    name = "advisor"

    async def run(self) -> Sequence[CheckResult]:
        """One line."""
        return (CheckResult(name=self.name, ok=True, detail="rules advisor (no API to check)"),)
