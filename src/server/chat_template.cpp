// chat_template.cpp - RWKV's chat template (chat_template.h).
#include "chat_template.h"

#include <algorithm>

std::string chat_clean_message(const std::string& in) {
    std::string s;
    for (char c : in) {
        if (c == '\r') continue;
        if (c == '\n' && !s.empty() && s.back() == '\n') continue;
        s += c;
    }
    size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

static const char* think_hint(ChatThink t) {
    switch (t) {
        case THINK_LOW: return " (think a bit)";
        case THINK_MEDIUM: return " (think)";
        case THINK_HIGH: return " (think a lot)";
        default: return "";
    }
}

std::string chat_render_history(const std::vector<ChatMessage>& msgs, ChatThink think) {
    size_t last_user = msgs.size();
    for (size_t i = 0; i < msgs.size(); i++)
        if (msgs[i].role == "user") last_user = i;
    std::string out;
    for (size_t i = 0; i < msgs.size(); i++) {
        const std::string& r = msgs[i].role;
        out += r == "system" ? "System: " : r == "user" ? "User: " : "Assistant: ";
        out += chat_clean_message(msgs[i].content);
        if (i == last_user) out += think_hint(think);
        out += "\n\n";
    }
    return out;
}

std::string chat_render_prompt(const std::vector<ChatMessage>& msgs, ChatThink think) {
    return chat_render_history(msgs, think) + (think == THINK_OFF ? "Assistant:" : "Assistant: <think");
}

// The length of the longest suffix of s that is a proper prefix of tag.
static size_t partial_tag(const std::string& s, const std::string& tag) {
    for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; k--)
        if (s.compare(s.size() - k, k, tag, 0, k) == 0) return k;
    return 0;
}

static std::string ltrim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t\n");
    return a == std::string::npos ? "" : s.substr(a);
}

// The length of the valid UTF-8 sequence at s[i..), or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
static size_t utf8_seq(const std::string& s, size_t i) {
    const unsigned char c = (unsigned char)s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; k++) {
        const unsigned char b = (unsigned char)s[i + k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    }
    return n;
}

std::string utf8_sanitize(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size();) {
        const size_t n = utf8_seq(in, i);
        if (n) {
            out.append(in, i, n);
            i += n;
        } else {
            out += "\xEF\xBF\xBD";
            i++;
        }
    }
    return out;
}

static ChatReply split(const std::string& raw, ChatThink think, bool final);

// The length of an unfinished but so far valid UTF-8 sequence at the end of s
// (a character the next bytes may complete), or 0.
static size_t utf8_unfinished_tail(const std::string& s) {
    for (size_t k = 1; k <= 3 && k <= s.size(); k++) {
        const size_t i = s.size() - k;
        const unsigned char c = (unsigned char)s[i];
        if (c < 0xC0) continue;  // ASCII or a continuation byte: look further back
        const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (n <= k) return 0;
        std::string completed = s.substr(i);
        completed.append(n - k, '\x80');
        // completed with the smallest continuation bytes: valid if any completion is
        // (the second byte's lower bound is raised for E0 and F0, so try A0/90 too)
        if (utf8_seq(completed, 0) == n) return k;
        if (k == 1 && (c == 0xE0 || c == 0xF0)) {
            completed[1] = c == 0xE0 ? '\xA0' : '\x90';
            if (utf8_seq(completed, 0) == n) return k;
        }
        return 0;
    }
    return 0;
}

ChatReply chat_split_reply(const std::string& raw, ChatThink think, bool final) {
    ChatReply r = split(raw, think, final);
    // A streamed split holds back a character still being written, so that each
    // split is a prefix of the next (sanitizing it now would make it U+FFFD).
    if (!final) {
        std::string& tail = r.content.empty() ? r.reasoning : r.content;
        tail.resize(tail.size() - utf8_unfinished_tail(tail));
    }
    r.reasoning = utf8_sanitize(r.reasoning);
    r.content = utf8_sanitize(r.content);
    return r;
}

static ChatReply split(const std::string& raw, ChatThink think, bool final) {
    ChatReply r;
    if (think == THINK_OFF) {
        r.content = ltrim(raw);
        return r;
    }
    static const std::string close = "</think>";
    // raw continues "<think": skip its ">" (the model may also write "</think>" at once)
    size_t start = 0;
    if (!raw.empty() && raw[0] == '>') start = 1;
    else if (!final && raw.empty()) return r;
    const size_t end = raw.find(close, start);
    if (end == std::string::npos) {
        std::string body = raw.substr(start);
        if (!final) body.resize(body.size() - partial_tag(body, close));
        r.reasoning = ltrim(body);
        return r;
    }
    r.reasoning = ltrim(raw.substr(start, end - start));
    r.content = ltrim(raw.substr(end + close.size()));
    return r;
}
