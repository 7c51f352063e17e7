// test_server_api.cpp - the server's chat template and request parser, exactly
// (src/server/chat_template.h, api.h). The forms are BlinkDL's
// RWKV-v7/RWKV7-G1x-templates.txt; tests/test_server.py runs the server itself.
#include <gtest/gtest.h>

#include "../src/server/api.h"
#include "../src/server/chat_template.h"

TEST(ChatTemplate, CleanCollapsesBlankLinesAndTrims) {
    EXPECT_EQ(chat_clean_message("  a\r\n\r\n\r\nb\n\nc \n"), "a\nb\nc");
    EXPECT_EQ(chat_clean_message("\n\n \t"), "");
}

TEST(ChatTemplate, Render) {
    const std::vector<ChatMessage> m = {
        {"system", "Be brief."}, {"user", "Hi\n\nthere"}, {"assistant", "Hello."}, {"user", "Why?"}};
    EXPECT_EQ(chat_render_prompt(m, THINK_OFF),
              "System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello.\n\nUser: Why?\n\nAssistant:");
    EXPECT_EQ(chat_render_prompt(m, THINK_ON),
              "System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello.\n\nUser: Why?\n\nAssistant: <think");
    // the length hint goes on the last user message only
    EXPECT_EQ(chat_render_prompt(m, THINK_HIGH),
              "System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello.\n\nUser: Why? (think a lot)\n\nAssistant: <think");
    EXPECT_EQ(chat_render_history({{"user", "q"}}, THINK_LOW), "User: q (think a bit)\n\n");
}

TEST(ChatTemplate, SplitReply) {
    ChatReply r = chat_split_reply(" Hello", THINK_OFF, true);
    EXPECT_EQ(r.content, "Hello");
    EXPECT_EQ(r.reasoning, "");
    r = chat_split_reply(">\nLet me see.\n</think>\n The answer.", THINK_ON, true);
    EXPECT_EQ(r.reasoning, "Let me see.\n");
    EXPECT_EQ(r.content, "The answer.");
    // still growing: a possible start of </think> is held back
    r = chat_split_reply(">\nLet me see.</thi", THINK_ON, false);
    EXPECT_EQ(r.reasoning, "Let me see.");
    // ended inside the reasoning: no answer
    r = chat_split_reply(">\nLet me see.</thi", THINK_ON, true);
    EXPECT_EQ(r.reasoning, "Let me see.</thi");
    EXPECT_EQ(r.content, "");
    // still growing inside a character (the fuzzer's find): held back, not
    // made U+FFFD, so that every streamed split is a prefix of the final one
    const std::string zhong = "\xe4\xb8\xad", whole = "abc<" + zhong + "ink";
    for (ChatThink t : {THINK_OFF, THINK_ON}) {
        const ChatReply fin = chat_split_reply(whole, t, true);
        for (size_t n = 0; n <= whole.size(); n++) {
            const ChatReply part = chat_split_reply(whole.substr(0, n), t, false);
            const std::string& got = t == THINK_OFF ? part.content : part.reasoning;
            const std::string& all = t == THINK_OFF ? fin.content : fin.reasoning;
            EXPECT_EQ(all.compare(0, got.size(), got), 0) << "think " << t << ", prefix " << n << ": '" << got << "'";
        }
    }
    EXPECT_EQ(chat_split_reply("abc\xe4\xb8", THINK_OFF, false).content, "abc");
    EXPECT_EQ(chat_split_reply("abc\xe4\xb8", THINK_OFF, true).content, "abc\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(chat_split_reply("abc\xff", THINK_OFF, false).content, "abc\xef\xbf\xbd");  // never valid: at once
}

TEST(ChatTemplate, Utf8Sanitize) {
    EXPECT_EQ(utf8_sanitize("a\xe4\xb8\xad" "b"), "a\xe4\xb8\xad" "b");               // valid: unchanged
    EXPECT_EQ(utf8_sanitize("a\xff" "b"), "a\xef\xbf\xbd" "b");                       // an invalid byte
    EXPECT_EQ(utf8_sanitize("\xe4\xb8"), "\xef\xbf\xbd\xef\xbf\xbd");                 // truncated: per byte
    EXPECT_EQ(utf8_sanitize("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
    EXPECT_EQ(utf8_sanitize("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                 // overlong
}

static ApiError refuse(const std::string& body, ApiKind kind = API_CHAT) {
    ApiRequest r;
    ApiError e;
    EXPECT_FALSE(api_parse_request(body, kind, ApiLimits(), &r, &e)) << body;
    return e;
}

TEST(Api, ParsesAChat) {
    ApiRequest r;
    ApiError e;
    ASSERT_TRUE(api_parse_request(
        R"({"model":"x","messages":[{"role":"developer","content":"S"},{"role":"user","content":[{"type":"text","text":"Q"}]}],
            "max_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":5,"seed":3,"stop":"X","stream":true,
            "stream_options":{"include_usage":true},"penalty_decay":0.9,"logit_bias":{"0":-100},"whatever":[1]})",
        API_CHAT, ApiLimits(), &r, &e))
        << e.message;
    EXPECT_EQ(r.prompt, "System: S\n\nUser: Q\n\nAssistant:");
    EXPECT_EQ(r.gen.n_predict, 7);
    EXPECT_FLOAT_EQ(r.gen.sampling.temp, 0.5f);
    EXPECT_EQ(r.gen.sampling.top_k, 5);
    EXPECT_EQ(r.gen.sampling.seed, 3u);
    EXPECT_FLOAT_EQ(r.gen.sampling.penalty_decay, 0.9f);
    EXPECT_EQ(r.gen.stop, (std::vector<std::string>{"X", "\n\n"}));  // a chat always stops at the turn's end
    ASSERT_EQ(r.gen.logit_bias.size(), 1u);
    EXPECT_EQ(r.gen.logit_bias[0].first, 0);
    EXPECT_TRUE(r.stream && r.include_usage);
}

TEST(Api, ChatDefaultsAreChatRwkvs) {
    ApiRequest r;
    ApiError e;
    ASSERT_TRUE(api_parse_request(R"({"messages":[{"role":"user","content":"q"}]})", API_CHAT, ApiLimits(), &r, &e));
    EXPECT_FLOAT_EQ(r.gen.sampling.top_p, 0.3f);
    EXPECT_FLOAT_EQ(r.gen.sampling.presence_penalty, 0.5f);
    ASSERT_TRUE(api_parse_request(R"({"prompt":"q"})", API_COMPLETION, ApiLimits(), &r, &e));
    EXPECT_FLOAT_EQ(r.gen.sampling.top_p, SamplerParams().top_p);  // generate's
    EXPECT_EQ(r.prompt, "q");
}

TEST(Api, ErrorsNameTheField) {
    EXPECT_EQ(refuse("{").code, "invalid_json");
    EXPECT_EQ(refuse(R"({"messages":[]})").param, "messages");
    EXPECT_EQ(refuse(R"({"messages":{}})").param, "messages");
    EXPECT_EQ(refuse(R"({"messages":[{"role":"user","content":"q"},{"role":"bot"}]})").param, "messages[1].role");
    EXPECT_EQ(refuse(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})").param,
              "messages[0].content[0]");
    EXPECT_EQ(refuse(R"({"prompt":"q","temperature":"hot"})", API_COMPLETION).param, "temperature");
    EXPECT_EQ(refuse(R"({"prompt":"q","max_tokens":0})", API_COMPLETION).param, "max_tokens");
    EXPECT_EQ(refuse(R"({"prompt":"q","top_k":-1})", API_COMPLETION).param, "top_k");
    EXPECT_EQ(refuse(R"({"prompt":"q","logit_bias":{"x":1}})", API_COMPLETION).param, "logit_bias");
    EXPECT_EQ(refuse(R"({"prompt":7})", API_COMPLETION).param, "prompt");
    const ApiError e = refuse(R"({"messages":[{"role":"user","content":"q"}],"top_p":5})");
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(api_error_json(e),
              R"({"error":{"code":"invalid_value","message":"'top_p' must be in [0.0, 1.0], got 5","param":"top_p","type":"invalid_request_error"}})");
}
