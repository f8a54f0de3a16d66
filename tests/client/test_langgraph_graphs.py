"""Real LangGraph graphs on the saver, against the local runtime: a `StateGraph` with
interrupts and LangChain's `create_agent` with a scripted model run two turns, then a second
process resumes the thread and sees all of it; `get_state_history` lists every step, and
`update_state` from an earlier checkpoint forks there. Every run is compared with the same run
on LangGraph's `InMemorySaver` (the reference), step by step."""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("langchain")

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, message_to_dict
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.integrations.langgraph import AgentSessionsSaver, session_id_for

pytestmark = [pytest.mark.integration]


# --- the graphs (the resuming process imports them from here) ----------------------------------


class ReviewState(TypedDict):
    messages: Annotated[list[Any], add_messages]
    log: Annotated[list[str], operator.add]


def draft(state: ReviewState) -> dict[str, Any]:
    turn = sum(1 for message in state["messages"] if isinstance(message, HumanMessage))
    return {"messages": [AIMessage(f"Draft {turn}", id=f"draft-{turn}")], "log": [f"drafted {turn}"]}


def review(state: ReviewState) -> dict[str, Any]:
    answer = interrupt({"question": "Send the draft?", "draft": state["messages"][-1].content})
    return {"log": [f"review: {answer}"]}


def finish(state: ReviewState) -> dict[str, Any]:
    turn = sum(1 for message in state["messages"] if isinstance(message, HumanMessage))
    return {"messages": [AIMessage(f"Sent {turn}", id=f"sent-{turn}")]}


def review_graph(checkpointer: Any) -> Any:
    builder = StateGraph(ReviewState)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_node("finish", finish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


class ScriptedModel(GenericFakeChatModel):
    """A chat model that answers from a script and accepts tools (create_agent binds them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def agent_replies(turn: int) -> list[AIMessage]:
    script = {
        1: [
            AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}], id="ai-1"),
            AIMessage(
                "It is sunny in Paris.",
                id="ai-2",
                usage_metadata={"input_tokens": 12, "output_tokens": 6, "total_tokens": 18},
                response_metadata={"model_name": "scripted", "finish_reason": "stop"},
            ),
        ],
        2: [AIMessage("You asked about Paris.", id="ai-3", additional_kwargs={"refusal": None})],
        3: [AIMessage("Still Paris, and still sunny.", id="ai-4")],
    }
    return script[turn]


def scripted_agent(checkpointer: Any, turn: int) -> Any:
    return create_agent(
        model=ScriptedModel(messages=iter(agent_replies(turn))), tools=[weather], checkpointer=checkpointer
    )


def snapshot(state: Any) -> dict[str, Any]:
    """What a step shows a user, without the ids and times that differ between savers."""
    values = {
        key: [message_to_dict(item) for item in value] if key == "messages" else value
        for key, value in state.values.items()
    }
    return {
        "values": values,
        "next": list(state.next),
        "source": state.metadata.get("source"),
        "step": state.metadata.get("step"),
        "interrupts": [interrupt.value for task in state.tasks for interrupt in task.interrupts],
        "has_parent": state.parent_config is not None,
    }


def history(graph: Any, config: Any) -> list[dict[str, Any]]:
    return [snapshot(state) for state in graph.get_state_history(config)]


# --- the tests ----------------------------------------------------------------------------------


@pytest.fixture
def saver(live_api: Any) -> Iterator[AgentSessionsSaver]:
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    yield AgentSessionsSaver(client, AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace))
    client.close()


def review_two_turns(graph: Any, config: Any) -> list[Any]:
    seen = []
    seen.append(graph.invoke({"messages": [HumanMessage("Write to Ada", id="human-1")]}, config))
    seen.append(graph.invoke(Command(resume="yes"), config))
    seen.append(graph.invoke({"messages": [HumanMessage("Write to Bob", id="human-2")]}, config))
    seen.append(graph.invoke(Command(resume="no"), config))
    # interrupt ids are made from checkpoint ids, which differ between savers: values compared
    return [
        {
            key: [item.value for item in value] if key == "__interrupt__" else value
            for key, value in result.items()
            if key != "messages"
        }
        for result in seen
    ]


RESUME_REVIEW = """
import json, os, sys
sys.path[:0] = [os.environ["CLIENT_PATH"], os.environ["TESTS_PATH"]]
from agent_sessions_client.integrations.langgraph import AgentSessionsSaver
from client.test_langgraph_graphs import history, review_graph, snapshot
from langgraph.types import Command
graph = review_graph(AgentSessionsSaver())
config = {"configurable": {"thread_id": os.environ["THREAD"]}}
before = snapshot(graph.get_state(config))
graph.invoke({"messages": [("user", "Write to Cy")]}, config)
graph.invoke(Command(resume="later"), config)
print(json.dumps({"before": before, "history": history(graph, config)}, default=str))
"""


def test_a_graph_with_interrupts_runs_as_on_langgraphs_own_saver_and_resumes_in_another_process(
    live_api: Any, saver: AgentSessionsSaver
) -> None:
    from client.conftest import resume_in_another_process  # the resuming process imports this module

    thread = f"review-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    reference = review_graph(InMemorySaver())
    graph = review_graph(saver)

    results = review_two_turns(graph, config)
    assert results == review_two_turns(reference, config)
    assert results[0]["__interrupt__"][0] == {"question": "Send the draft?", "draft": "Draft 1"}
    assert history(graph, config) == history(reference, config)
    assert len(history(graph, config)) == 10  # every step of both turns, the inputs included

    resumed = resume_in_another_process(live_api, RESUME_REVIEW, THREAD=thread)
    assert resumed["before"] == json.loads(json.dumps(snapshot(reference.get_state(config)), default=str))
    reference.invoke({"messages": [("user", "Write to Cy")]}, config)
    reference.invoke(Command(resume="later"), config)
    expected = json.loads(json.dumps(history(reference, config), default=str))
    for step in [*resumed["history"], *expected]:  # an id LangGraph made up for the tuple input
        for message in step["values"].get("messages", []):
            if message["data"]["content"] == "Write to Cy":
                message["data"]["id"] = "made-up"
    assert resumed["history"] == expected
    assert resumed["history"][0]["values"]["log"][-1] == "review: later"


def test_update_state_from_an_earlier_checkpoint_forks_there(saver: AgentSessionsSaver) -> None:
    config = {"configurable": {"thread_id": f"fork-{uuid.uuid4().hex[:8]}"}}
    outcomes = []
    for graph in (review_graph(saver), review_graph(InMemorySaver())):
        review_two_turns(graph, config)
        steps = list(graph.get_state_history(config))
        first_turn_done = next(s for s in steps if s.metadata["step"] == 4)  # after "Sent 1"
        forked = graph.update_state(first_turn_done.config, {"messages": [AIMessage("Edited", id="edit-1")]})
        state = graph.get_state(forked)
        assert (
            state.parent_config["configurable"]["checkpoint_id"]
            == first_turn_done.config["configurable"]["checkpoint_id"]
        )
        assert [m.content for m in state.values["messages"]] == ["Write to Ada", "Draft 1", "Sent 1", "Edited"]
        assert state.values["log"] == ["drafted 1", "review: yes"]
        # the branch runs on from the fork; the latest state is the branch's
        graph.invoke({"messages": [HumanMessage("Write to Di", id="human-3")]}, forked)
        graph.invoke(Command(resume="ok"), config)
        latest = graph.get_state(config)
        assert [m.content for m in latest.values["messages"]][-3:] == ["Write to Di", "Draft 2", "Sent 2"]
        branch = [snapshot(s) for s in graph.get_state_history(config)]
        outcomes.append(branch)
    assert outcomes[0] == outcomes[1]


RESUME_AGENT = """
import json, os, sys
sys.path[:0] = [os.environ["CLIENT_PATH"], os.environ["TESTS_PATH"]]
from agent_sessions_client.integrations.langgraph import AgentSessionsSaver
from client.test_langgraph_graphs import scripted_agent
from langchain_core.messages import HumanMessage, message_to_dict
agent = scripted_agent(AgentSessionsSaver(), 3)
config = {"configurable": {"thread_id": os.environ["THREAD"]}}
seen = [message_to_dict(m) for m in agent.get_state(config).values["messages"]]
result = agent.invoke({"messages": [HumanMessage("And now?", id="human-3")]}, config)
print(json.dumps({"seen": seen, "after": [message_to_dict(m) for m in result["messages"]]}))
"""


def made_up_ids_hidden(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with the ids LangGraph makes up for tool results (random) hidden."""
    return [{**m, "data": {**m["data"], "id": "made-up"}} if m["type"] == "tool" else m for m in messages]


async def agent_two_turns(checkpointer: Any, config: Any) -> list[dict[str, Any]]:
    first = scripted_agent(checkpointer, 1)
    await first.ainvoke({"messages": [HumanMessage("Weather in Paris?", id="human-1")]}, config)
    second = scripted_agent(checkpointer, 2)
    result = await second.ainvoke({"messages": [HumanMessage("What did I ask?", id="human-2")]}, config)
    return [message_to_dict(message) for message in result["messages"]]


def test_create_agent_runs_two_turns_and_a_second_process_resumes(live_api: Any, saver: AgentSessionsSaver) -> None:
    import asyncio

    from client.conftest import resume_in_another_process

    thread = f"agent-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    reference = InMemorySaver()
    stored = asyncio.run(agent_two_turns(saver, config))
    assert made_up_ids_hidden(stored) == made_up_ids_hidden(asyncio.run(agent_two_turns(reference, config)))
    assert [m["type"] for m in stored] == ["human", "ai", "tool", "ai", "human", "ai"]
    assert stored[1]["data"]["tool_calls"][0]["args"] == {"city": "Paris"}
    assert stored[3]["data"]["usage_metadata"]["total_tokens"] == 18

    resumed = resume_in_another_process(live_api, RESUME_AGENT, THREAD=thread)
    assert resumed["seen"] == stored
    assert resumed["after"] == [*stored, message_to_dict(HumanMessage("And now?", id="human-3")), resumed["after"][-1]]
    assert resumed["after"][-1]["data"]["content"] == "Still Paris, and still sunny."
    # five checkpoints for the turn with a tool call (the input, model, tool, model and the empty
    # start), three for each plain turn (the input, its start of loop and the model)
    assert len(list(scripted_agent(saver, 3).get_state_history(config))) == 5 + 3 + 3


# --- how it is stored ---------------------------------------------------------------------------


class ChatState(TypedDict):
    messages: Annotated[list[Any], add_messages]
    turns: int


def reply(state: ChatState) -> dict[str, Any]:
    turn = state.get("turns", 0) + 1
    return {"messages": [AIMessage(f"Reply {turn}: " + "x" * 300, id=f"reply-{turn}")], "turns": turn}


def chat_graph(checkpointer: Any) -> Any:
    builder = StateGraph(ChatState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def stored_records(live_api: Any, thread: str) -> list[dict[str, Any]]:
    from reliability.conftest import every_message

    return every_message(live_api, session_id_for(thread))


def test_a_growing_conversation_is_stored_as_what_each_step_adds(live_api: Any, saver: AgentSessionsSaver) -> None:
    thread = f"chat-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    reference = InMemorySaver()
    sizes = []
    for turn in range(1, 61):
        human = {"messages": [HumanMessage(f"Question {turn}: " + "y" * 300, id=f"human-{turn}")]}
        chat_graph(saver).invoke(human, config)
        chat_graph(reference).invoke(human, config)
        if turn % 20 == 0:
            sizes.append(sum(len(m["content"]) for m in stored_records(live_api, thread)))

    # every checkpoint reads back exactly as LangGraph's own saver keeps it
    ours = [snapshot(s) for s in chat_graph(saver).get_state_history(config)]
    assert ours == [snapshot(s) for s in chat_graph(reference).get_state_history(config)]
    assert len(ours) == 60 * 3

    # bytes grow with what the turns add (about the same per 20 turns), not with turns x state
    growth = [sizes[0], sizes[1] - sizes[0], sizes[2] - sizes[1]]
    assert max(growth) < 1.6 * min(growth), growth
    records = [
        json.loads(m["content"]) for m in stored_records(live_api, thread) if m["metadata"]["langgraph"] == "checkpoint"
    ]
    appended = [r for r in records if r["v"].get("messages", {}).get("a")]
    assert len(appended) > len(records) / 2  # most steps store only the new messages
    assert all(len(r["v"]["messages"]["a"]) <= 1 for r in appended)


def test_a_list_that_did_not_just_grow_is_stored_whole_and_reads_back_exactly(saver: AgentSessionsSaver) -> None:
    config = {"configurable": {"thread_id": f"edit-{uuid.uuid4().hex[:8]}"}}
    reference = InMemorySaver()
    for checkpointer in (saver, reference):
        graph = chat_graph(checkpointer)
        graph.invoke({"messages": [HumanMessage("one", id="h1")]}, config)
        graph.invoke({"messages": [HumanMessage("two", id="h2")]}, config)
        graph.update_state(config, {"messages": [HumanMessage("one, corrected", id="h1")]})  # replaced in place
        graph.update_state(config, {"messages": [RemoveMessage(id="reply-1")]})  # removed
        graph.invoke({"messages": [HumanMessage("three", id="h3")]}, config)
    ours = [snapshot(s) for s in chat_graph(saver).get_state_history(config)]
    assert ours == [snapshot(s) for s in chat_graph(reference).get_state_history(config)]
    assert [m["data"]["content"] for m in ours[0]["values"]["messages"]][:2] == ["one, corrected", "two"]


def test_a_state_larger_than_a_message_is_stored_in_parts_of_one_append(
    live_api: Any, saver: AgentSessionsSaver
) -> None:
    thread = f"large-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    page = "".join(chr(0x41 + (i * 7919) % 58) for i in range(700_000))  # 700 KB of text
    graph = chat_graph(saver)
    graph.invoke({"messages": [HumanMessage(page, id="page")]}, config)
    assert graph.get_state(config).values["messages"][0].content == page
    parts = [m for m in stored_records(live_api, thread) if m["metadata"]["langgraph"] == "part"]
    assert len(parts) >= 4 and [p["metadata"]["part"] for p in parts[: parts[0]["metadata"]["parts"]]] == list(
        range(parts[0]["metadata"]["parts"])
    )


def test_prune_blanks_what_it_drops_and_keeps_the_latest_readable(live_api: Any, saver: AgentSessionsSaver) -> None:
    thread = f"prune-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    graph = chat_graph(saver)
    for turn in range(5):
        graph.invoke({"messages": [HumanMessage(f"q{turn}", id=f"q{turn}")]}, config)
    latest = snapshot(graph.get_state(config))
    stored_before = len(stored_records(live_api, thread))

    saver.prune([thread], strategy="keep_latest")

    assert [snapshot(s) for s in graph.get_state_history(config)] == [latest]
    messages = stored_records(live_api, thread)
    blanked = messages[:stored_before]
    assert all(m["metadata"] == {"langgraph": "deleted"} and m["content"] == "{}" for m in blanked)
    assert [m["metadata"]["langgraph"] for m in messages[stored_before:]] == ["checkpoint"]
    graph.invoke({"messages": [HumanMessage("after", id="after")]}, config)  # the thread goes on
    assert graph.get_state(config).values["turns"] == 6


def test_threads_list_across_the_namespace_and_other_sessions_are_not_threads(
    live_api: Any, saver: AgentSessionsSaver
) -> None:
    client = saver.client
    client.create_session(session_id="lg-not-a-thread")  # named like one, made by someone else
    client.append_message("lg-not-a-thread", "hello")
    threads = [f"all-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    for thread in threads:
        chat_graph(saver).invoke({"messages": [HumanMessage("hi", id="hi")]}, {"configurable": {"thread_id": thread}})
    listed = list(saver.list(None, filter={"source": "loop"}))
    assert sorted({t.config["configurable"]["thread_id"] for t in listed}) == sorted(threads)
    assert len(listed) == 2 * 3 and all(t.metadata["source"] == "loop" for t in listed)  # two loop steps a turn
    assert len(list(saver.list(None, limit=2))) == 2
    assert saver.get_tuple({"configurable": {"thread_id": "not-a-thread"}}) is None


class ProfileState(TypedDict):
    messages: Annotated[list[Any], add_messages]
    profile: dict[str, Any]
    steps: int


def long_graph(checkpointer: Any, steps: int) -> Any:
    def step(state: ProfileState) -> dict[str, Any]:
        done = state.get("steps", 0) + 1
        return {"messages": [AIMessage(f"step {done}", id=f"s{done}")], "steps": done}

    builder = StateGraph(ProfileState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda state: "step" if state["steps"] < steps else END)
    return builder.compile(checkpointer=checkpointer)


def test_reading_the_latest_checkpoint_of_a_long_thread_takes_a_few_requests(live_api: Any) -> None:
    import httpx

    class Counting(httpx.HTTPTransport):
        requests = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            Counting.requests += 1
            return super().handle_request(request)

    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace, transport=Counting())
    config = {"configurable": {"thread_id": f"long-{uuid.uuid4().hex[:8]}"}, "recursion_limit": 400}
    given = {"messages": [HumanMessage("go", id="go")], "profile": {"name": "Ada", "notes": "n" * 2000}}
    long_graph(AgentSessionsSaver(client), 300).invoke(given, config)
    reference = InMemorySaver()
    long_graph(reference, 300).invoke(given, config)
    stored = client.get_session(session_id_for(config["configurable"]["thread_id"])).message_count
    assert stored > 600  # three pages and more of records: the profile was written at the start

    Counting.requests = 0
    latest = AgentSessionsSaver(client).get_tuple(config)  # a new saver: nothing cached
    assert latest is not None
    assert latest.checkpoint["channel_values"] == reference.get_tuple(config).checkpoint["channel_values"]
    # the newest page, then the profile's record and the messages' span side by side
    assert Counting.requests <= 4, Counting.requests
    client.close()
