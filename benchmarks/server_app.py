"""The app `benchmarks/server.py` serves: one agent on an instant model (`test:echo`)."""

from keel import Agent, App

app = App(agents=[Agent(name="echo", model="test:echo")])
