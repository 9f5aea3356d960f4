"""Structured output with the real engine worker and the starter model: a JSON schema (or a GBNF
grammar) constrains the reply, and the reply is checked after it ends."""

import asyncio
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from studio.core.chat.conversation import MessageStatus
from studio.core.chat.session import ChatSession
from studio.core.chat.store import ChatStore
from studio.core.engine import structured
from studio.core.engine.client import EngineClient
from studio.core.engine.sampling import SamplingParams
from studio.core.workers.protocol import WorkerError

pytestmark = pytest.mark.slow

# Bounded strings and arrays: the grammar then ends the object within a few dozen tokens.
PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 20},
    "city": {"type": "string", "minLength": 1, "maxLength": 20},
    "hobbies": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 12},
                "minItems": 1, "maxItems": 2}},
    "required": ["name", "city", "hobbies"], "additionalProperties": False}
ASK = [{"role": "system", "content": "You reply with JSON only."},
       {"role": "user", "content": "Describe a fictional person as JSON: name, city, hobbies."}]
RUNS = 100
MAX_TOKENS = 120  # the longest reply the grammar allows is ~90 tokens


@pytest.fixture(scope="module")
def engine(starter_model):
    loop = asyncio.new_event_loop()
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=1024))
    yield engine, loop
    loop.run_until_complete(engine.close())
    loop.close()


async def _reply(engine, messages, sampling, grammar):
    generation = await engine.generate(messages, sampling, grammar=grammar)
    async for _ in generation:
        pass
    return generation


def test_schema_constrained_reply_validates_in_100_of_100_seeded_runs(engine):
    client, loop = engine
    fmt = structured.build("json_schema", json.dumps(PERSON))
    valid, texts, failures = 0, set(), []
    for seed in range(RUNS):
        sampling = SamplingParams(temperature=0.8, max_tokens=MAX_TOKENS, seed=seed)
        generation = loop.run_until_complete(_reply(client, ASK, sampling, fmt.grammar))
        texts.add(generation.text)
        try:
            jsonschema.validate(json.loads(generation.text), PERSON)
        except (ValueError, jsonschema.ValidationError) as exc:
            failures.append((seed, generation.text, generation.stats.finish_reason, str(exc)[:200]))
            continue
        assert structured.check_reply(fmt, generation.text, finish_reason=generation.stats.finish_reason)["valid"]
        valid += 1
    print(f"\nschema-constrained replies valid: {valid}/{RUNS} ({len(texts)} distinct)")
    assert valid == RUNS, failures[:5]
    assert len(texts) > RUNS // 2  # the seeds really sampled different replies


def test_gbnf_grammar_constrains_the_reply(engine):
    client, loop = engine
    fmt = structured.build("gbnf", 'root ::= ("yes" | "no") "." ')
    asked = [{"role": "user", "content": "Is the sky green? Answer freely and explain at length."}]
    for seed in range(5):
        generation = loop.run_until_complete(
            _reply(client, asked, SamplingParams(temperature=1.0, max_tokens=40, seed=seed), fmt.grammar))
        assert generation.text in ("yes.", "no.")
        assert structured.check_reply(fmt, generation.text, finish_reason=generation.stats.finish_reason)["valid"]


def test_bad_grammar_is_a_sentence_and_the_engine_still_answers(engine):
    client, loop = engine
    for grammar, said in [("root ::= answer", "Undefined rule identifier 'answer'"),
                          ('reply ::= "a"', "does not contain a 'root' symbol"),
                          ('root ::= "a" (', "expecting ')'"),
                          ('root ::= root "a"', "left recursion")]:
        with pytest.raises(WorkerError) as caught:
            loop.run_until_complete(_reply(client, ASK, SamplingParams(max_tokens=8), grammar))
        assert caught.value.kind == "bad_grammar" and said in caught.value.message
        assert caught.value.message.startswith("the grammar could not be parsed")
    # the same worker, still loaded, answers the next request
    generation = loop.run_until_complete(
        _reply(client, [{"role": "user", "content": "Say hi."}], SamplingParams(max_tokens=8, seed=1), None))
    assert generation.text.strip() and client.ready


@pytest.mark.parametrize("kind, text, said", [
    ("json_schema", '{"type": "object",\n  "properties": {"a": }}', "not valid JSON: Expecting value at line 2, column 23"),
    ("json_schema", "[1, 2]", "must be a JSON object"),
    ("json_schema", '{"type": "objekt"}', "not a valid schema"),
    ("json_schema", '{"properties": {"a": {"$ref": "#/nowhere"}}}', "cannot be turned into a grammar"),
    ("json_schema", "  ", "the JSON schema is empty"),
    ("gbnf", "root ::= missing", "Undefined rule identifier 'missing'"),
    ("gbnf", "root ::= [a-", "could not be parsed"),
    ("gbnf", "", "the grammar is empty"),
])
def test_bad_schema_or_grammar_says_what_is_wrong(kind, text, said):
    with pytest.raises(structured.OutputFormatError) as caught:
        structured.build(kind, text)
    assert said in str(caught.value)


def test_check_reply_names_truncation_and_schema_violations():
    fmt = structured.build("json_schema", json.dumps(PERSON))
    cut = structured.check_reply(fmt, '{"name": "Al', finish_reason="length")
    assert not cut["valid"] and "token limit before the JSON closed" in cut["reason"]
    assert "Stop" not in structured.check_reply(fmt, '{"name"', stopped=True)["reason"]
    wrong = structured.check_reply(fmt, '{"name": "Al", "city": "Rome", "hobbies": []}')
    assert not wrong["valid"] and "does not match the schema" in wrong["reason"] and "hobbies" in wrong["reason"]
    assert structured.max_tokens_note(32) and structured.max_tokens_note(512) is None


def test_keywords_the_grammar_cannot_hold_are_named():
    ranged = {"type": "object", "properties": {"minimum": {"type": "integer", "minimum": 0, "maximum": 120}},
              "required": ["minimum"]}
    fmt = structured.build("json_schema", json.dumps(ranged))
    assert fmt.unenforced == ("minimum", "maximum")  # a property named "minimum" is not a keyword
    assert "only checked after it" in structured.unenforced_note(fmt)
    assert structured.build("json_schema", json.dumps(PERSON)).unenforced == ()
    broken = structured.check_reply(fmt, '{"minimum": 999}')
    assert not broken["valid"] and "999 is greater than the maximum of 120" in broken["reason"]


def test_conversation_format_persists_and_each_reply_is_checked(starter_model, tmp_path):
    loop = asyncio.new_event_loop()
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = EngineClient()
    try:
        loop.run_until_complete(engine.load(str(starter_model), n_ctx=1024))
        session = ChatSession(store, engine)
        session.new_conversation(sampling=SamplingParams(temperature=0.8, max_tokens=MAX_TOKENS, seed=7, n_ctx=1024))
        session.set_output_format(structured.build("json_schema", json.dumps(PERSON)))
        reply = loop.run_until_complete(session.send("Describe a fictional person."))
        assert reply.status == MessageStatus.COMPLETE
        assert reply.stats["structured"] == {"kind": "json_schema", "valid": True, "reason": None}
        jsonschema.validate(json.loads(reply.content), PERSON)
        assert store.get_message(reply.id).stats["structured"]["valid"]

        # a limit too small for the object: the message says so instead of pretending
        session.update_settings(sampling=SamplingParams(temperature=0.8, max_tokens=6, seed=7, n_ctx=1024))
        cut = loop.run_until_complete(session.send("Another one."))
        assert cut.stats["structured"]["valid"] is False
        assert "raise Max tokens" in cut.stats["structured"]["reason"]
        conversation_id = session.conversation.id
    finally:
        loop.run_until_complete(engine.close())
        store.close()
        loop.close()

    reopened = ChatStore(tmp_path / "chats.sqlite3")
    try:
        options = reopened.get_conversation(conversation_id).options
        assert options["output_format"]["kind"] == "json_schema"
        assert json.loads(options["output_format"]["text"]) == PERSON
        messages = reopened.messages(conversation_id)
        assert messages[-1].stats["structured"]["valid"] is False
    finally:
        reopened.close()


def test_free_text_again_drops_only_the_format(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        session = ChatSession(store, EngineClient())
        conversation = session.new_conversation()
        store.update_conversation(conversation.id, options={"thinking": False})
        session.conversation = store.get_conversation(conversation.id)
        session.set_output_format(structured.build("json"))
        assert session.output_format is not None and session.output_format.kind == "json"
        session.set_output_format(None)
        assert store.get_conversation(conversation.id).options == {"thinking": False}
        assert session.output_format is None
    finally:
        store.close()


def _studio(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_cli_json_schema_prints_the_checked_json(tmp_path, starter_model):
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON))
    done = _studio("chat", "--model", str(starter_model), "--json-schema", str(schema), "--prompt",
                   "Describe a fictional person.", "--seed", "3", "--temperature", "0.8",
                   "--max-tokens", str(MAX_TOKENS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("{\n  ")  # indented
    jsonschema.validate(json.loads(done.stdout), PERSON)

    done = _studio("chat", "--model", str(starter_model), "--json-schema", str(schema), "--prompt", "Describe one.",
                   "--max-tokens", "5", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["structured"]["valid"] is False
    assert "token limit before the JSON closed" in done.stderr and "note: Max tokens is 5" in done.stderr


def test_cli_bad_inputs_are_one_line_usage_errors(tmp_path):
    bad_schema = tmp_path / "bad.json"
    bad_schema.write_text('{"type": "object",}')
    bad_grammar = tmp_path / "bad.gbnf"
    bad_grammar.write_text("root ::= nothing")
    cases = [(["--json-schema", str(bad_schema)], "not valid JSON: Expecting property name"),
             (["--grammar", str(bad_grammar)], "Undefined rule identifier 'nothing'"),
             (["--grammar", str(tmp_path / "missing.gbnf")], "no such file for --grammar"),
             (["--grammar", str(bad_grammar), "--json-schema", str(bad_schema)], "not allowed with"),
             (["--grammar", str(bad_grammar), "--engine", "http://127.0.0.1:9/v1"], "could not be parsed")]
    for extra, said in cases:
        done = _studio("chat", "--prompt", "hi", *extra, timeout=60)
        assert done.returncode == 2, (extra, done.stderr)
        assert said in done.stderr.strip().splitlines()[-1]  # the last line says what is wrong
    good = tmp_path / "yn.gbnf"
    good.write_text('root ::= "yes" | "no"')
    done = _studio("chat", "--prompt", "hi", "--grammar", str(good), "--engine", "http://127.0.0.1:9/v1", timeout=60)
    assert done.returncode == 2 and "--grammar needs a local model" in done.stderr


def test_remote_engine_gets_the_schema_as_response_format(starter_model, tmp_path):
    """The studio's own OpenAI-compatible server as the remote engine: the schema travels as
    response_format, and the reply is checked here the same way, in the session and the CLI."""
    from studio.core.engine.remote import RemoteEngine
    from tests.remote_servers import STUDIO_KEY, start_studio_server

    server = start_studio_server(starter_model, tmp_path)
    loop = asyncio.new_event_loop()
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        session = ChatSession(store, EngineClient())
        session.use_remote(RemoteEngine(server.base_url, STUDIO_KEY, name="studio"))
        # The server also lists any training runs' adapters it finds: ask for the base model by name.
        assert starter_model.stem in loop.run_until_complete(session.remote.list_models())
        session.remote.model = starter_model.stem
        session.new_conversation(sampling=SamplingParams(temperature=0.8, max_tokens=MAX_TOKENS, seed=11, n_ctx=2048))
        session.set_output_format(structured.build("json_schema", json.dumps(PERSON)))
        reply = loop.run_until_complete(session.send("Describe a fictional person."))
        assert reply.stats["structured"]["valid"], (reply.content, reply.stats)
        jsonschema.validate(json.loads(reply.content), PERSON)

        session.set_output_format(structured.build("gbnf", 'root ::= "yes" | "no"', check=False))
        refused = loop.run_until_complete(session.send("Is it?"))
        assert refused.status == MessageStatus.ERROR and "local engine only" in refused.stats["error"]

        schema = tmp_path / "person.json"
        schema.write_text(json.dumps(PERSON))
        done = subprocess.run([sys.executable, "-m", "studio", "chat", "--engine", server.base_url, "--model",
                               starter_model.stem, "--json-schema",
                               str(schema), "--prompt", "Describe a fictional person.", "--seed", "5",
                               "--max-tokens", str(MAX_TOKENS)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "STUDIO_ENGINE_API_KEY": STUDIO_KEY}, check=False)
        assert done.returncode == 0, done.stderr
        jsonschema.validate(json.loads(done.stdout), PERSON)
    finally:
        store.close()
        loop.close()
        server.stop()
