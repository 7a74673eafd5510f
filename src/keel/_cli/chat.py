"""`keel chat`: a conversation in the terminal, saved as a session after every turn."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from keel import Agent, KeelError, Message
from keel._cli.errors import reported
from keel._cli.loop import FLUSH_SECONDS, TurnLoop
from keel._cli.render import EventPrinter
from keel._cli.target import (
    Target,
    load_target,
    model_label,
    new_session_id,
    ready_agent,
    resolve_model,
    session_history,
)
from keel._cli.ui import MARK, one_line, print_error, print_note, stderr_console, stdout_console

__all__ = ["run_chat"]

_COMMANDS = (
    ("/help", "show this help"),
    ("/new", "start a new conversation (a new session id)"),
    ("/exit", "leave; Ctrl-D and Ctrl-C at the prompt leave too"),
)
_RECAP = 4  # earlier messages shown when a session is resumed


def run_chat(app_path: str | None, agent_name: str | None, session_id: str | None) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        target = load_target(app_path, agent_name)
        history = loop.run(session_history(target, session_id)) if session_id else None
        model = resolve_model(target.agent)
        session_id, saved = (session_id, True) if session_id else (new_session_id(), False)
        chat = Chat(target, target.agent, session_id, loop, out, err, saved)
        chat.print_header(model_label(model), history)
        chat.agent = ready_agent(target.agent, model, err)
        chat.repl()
        loop.run(target.app.flush(FLUSH_SECONDS))  # after-turn work (fact extraction)


@dataclass
class Chat:
    target: Target
    agent: Agent[Any]
    session_id: str
    loop: TurnLoop
    out: Console
    err: Console
    saved: bool = False  # whether the session holds a turn, so can be resumed

    def print_header(self, model: str, history: list[Message] | None) -> None:
        title = Text.assemble(("keel chat", "bold"), " · ", (self.agent.name, "bold green"))
        self.out.print(title.append(f" · {model}", style="dim"))
        if history is None:
            self._announce_new_session()
        else:
            line = Text.assemble("resumed session ", (self.session_id, "bold"))
            self.out.print(line.append(f" ({len(history)} earlier messages)", style="dim"))
            self._recap(history)
        print_note(self.out, "/help for commands · /exit or Ctrl-D to leave")

    def repl(self) -> None:
        prompt = _prompt(self.out)
        while (line := self._read(prompt)) is not None:
            text = line.strip()
            if text.startswith("/"):
                if not self._command(text):
                    break
            elif text:
                self._turn(text)
        self._say_goodbye()

    def _read(self, prompt: str) -> str | None:
        try:
            line = input(prompt)
        except (EOFError, KeyboardInterrupt):
            self.out.print()
            return None
        if not sys.stdin.isatty():  # piped input: echo it so the transcript reads right
            self.out.out(line, highlight=False)
        return line

    def _command(self, text: str) -> bool:
        """Run a slash command; False means leave."""
        name = text.split(maxsplit=1)[0].lower()
        if name in ("/exit", "/quit"):
            return False
        if name == "/new":
            self._say_goodbye()
            self.session_id, self.saved = new_session_id(), False
            self._announce_new_session()
        elif name == "/help":
            for command, description in _COMMANDS:
                self.out.print(Text.assemble((f"{command:<7}", "bold"), description))
        else:
            print_error(self.err, f"unknown command {name}; /help lists the commands")
        return True

    def _turn(self, text: str) -> None:
        printer = EventPrinter(self.out, label=self.agent.name)
        events = self.target.app.runner.stream(self.agent, text, session_id=self.session_id)
        try:
            self.loop.run(printer.consume(events))
            self.saved = True
        except KeyboardInterrupt:
            self.err.print("interrupted: this turn was not saved", style="yellow")
        except KeelError as error:
            print_error(self.err, str(error))

    def _announce_new_session(self) -> None:
        self.out.print(Text.assemble("new session ", (self.session_id, "bold")))

    def _say_goodbye(self) -> None:
        """Name the command that resumes this conversation, once there is one to resume."""
        if self.saved:
            resume = self.target.command("chat", "--session", self.session_id)
            self.out.print(Text.assemble(("resume with: ", "dim"), (resume, "cyan")))

    def _recap(self, history: list[Message]) -> None:
        said = [m for m in history if m.role in ("user", "assistant") and m.text.strip()]
        for message in said[-_RECAP:]:
            who = "you" if message.role == "user" else self.agent.name
            text = Text(f"{who} {MARK} {one_line(message.text)}", style="dim")
            self.out.print(text, no_wrap=True, overflow="ellipsis")


def _prompt(console: Console) -> str:
    """The prompt, in bold cyan on a terminal; readline needs colour codes marked invisible."""
    if not (console.is_terminal and sys.stdin.isatty()) or console.color_system is None:
        return f"you {MARK} "
    try:
        importlib.import_module("readline")  # line editing and history for input()
    except ImportError:
        return f"\x1b[1;36myou {MARK}\x1b[0m "
    return f"\x01\x1b[1;36m\x02you {MARK}\x01\x1b[0m\x02 "
