// chat_template.h - RWKV's chat template, shared by `rwkv-cli chat` and serve.
//
//   System: ...\n\nUser: ...\n\nAssistant: ...\n\nUser: ...\n\nAssistant:
//
// "\n\n" ends a turn (the models were trained so), so a message may not
// contain it: blank lines inside a message are collapsed. The G1 models'
// thinking mode opens the reply with "<think" (BlinkDL's RWKV-LM,
// RWKV-v7/RWKV7-G1x-templates.txt); how long to think is asked for at the end
// of the user's message: "(think a bit)", "(think)", "(think a lot)".
#pragma once

#include <string>
#include <vector>

// Blank lines collapsed, "\r" dropped, both ends trimmed (ChatRWKV's clean_txt).
std::string chat_clean_message(const std::string& in);

enum ChatThink {
    THINK_OFF,
    THINK_ON,      // "<think" with no length hint
    THINK_LOW,     // "(think a bit)"
    THINK_MEDIUM,  // "(think)"
    THINK_HIGH,    // "(think a lot)"
};

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant" (checked by the caller)
    std::string content;
};

// The finished turns: "Role: content\n\n" for each message, contents cleaned.
// The next prompt of the same conversation starts with exactly this text, so
// it is also the key under which a reply's state is kept (server/engine.h).
// With think, the last user message gets the length hint.
std::string chat_render_history(const std::vector<ChatMessage>& msgs, ChatThink think = THINK_OFF);

// The prompt that asks for the next assistant turn: the history, then
// "Assistant:" (or "Assistant: <think" in thinking mode).
std::string chat_render_prompt(const std::vector<ChatMessage>& msgs, ChatThink think);

// A reply split into its reasoning and its answer. `raw` is the generated
// text after the prompt. Without thinking, the answer is raw without its
// leading whitespace (the model writes " Hello" after "Assistant:"). With
// thinking, raw continues "<think": the reasoning runs to "</think>", the
// answer follows it. While the reply is still growing (final = false), text
// that may be the start of "</think>" is held back, so every split is a
// prefix of the next one and a stream of the differences adds up to the
// final split. Both parts are utf8_sanitize'd.
// Valid UTF-8: each byte that cannot be part of a valid sequence becomes
// U+FFFD. A reply is returned so (JSON needs it), and the next turn's prompt
// is built from what the client got back, so the state cache keys the reply
// the same way.
std::string utf8_sanitize(const std::string& in);

struct ChatReply {
    std::string reasoning, content;
};
ChatReply chat_split_reply(const std::string& raw, ChatThink think, bool final);
