// Streams one chat completion from each base URL given and prints, per URL,
// the text, the finish reason and the usage, as one JSON line.
import OpenAI from "openai";
for (const baseURL of process.argv.slice(2)) {
  const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: "streambench",
    messages: [{ role: "user", content: "Tell me a story." }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      if (c.delta?.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  console.log(JSON.stringify({ baseURL, text, finish, usage }));
}
