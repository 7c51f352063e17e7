#include "png.h"

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>

#include "common.h"

void image_init(Image* im, int w, int h, uint32_t rgb) {
    im->w = w;
    im->h = h;
    im->rgb.assign((size_t)w * h * 3, 0);
    image_fill_rect(im, 0, 0, w, h, rgb);
}

void image_fill_rect(Image* im, int x, int y, int w, int h, uint32_t rgb) {
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            if (i < 0 || j < 0 || i >= im->w || j >= im->h) continue;
            uint8_t* p = &im->rgb[((size_t)j * im->w + i) * 3];
            p[0] = (uint8_t)(rgb >> 16), p[1] = (uint8_t)(rgb >> 8), p[2] = (uint8_t)rgb;
        }
}

// 3x5 glyphs, one row per 3 bits (top row first).
static const char* glyph(char c) {
    switch (c) {
        case '0': return "111101101101111"; case '1': return "010110010010111";
        case '2': return "111001111100111"; case '3': return "111001111001111";
        case '4': return "101101111001001"; case '5': return "111100111001111";
        case '6': return "111100111101111"; case '7': return "111001001001001";
        case '8': return "111101111101111"; case '9': return "111101111001111";
        case '%': return "101001010100101"; case '.': return "000000000000010";
        case ':': return "000010000010000"; case '-': return "000000111000000";
        case '/': return "001001010100100"; case ' ': return "000000000000000";
        case 'A': return "010101111101101"; case 'C': return "011100100100011";
        case 'D': return "110101101101110"; case 'E': return "111100110100111";
        case 'G': return "011100101101011"; case 'H': return "101101111101101";
        case 'K': return "101101110101101"; case 'L': return "100100100100111";
        case 'N': return "110101101101101"; case 'O': return "010101101101010";
        case 'P': return "110101110100100"; case 'R': return "110101110101101";
        case 'S': return "011100010001110"; case 'T': return "111010010010010";
        case 'U': return "101101101101111"; case 'Y': return "101101010010010";
        case 'X': return "101101010101101"; case 'B': return "110101110101110";
        case 'F': return "111100110100100"; case 'I': return "111010010010111";
        case 'M': return "101111111101101"; case 'W': return "101101111111101";
        case 'Z': return "111001010100111";
        default: return "111111111111111";
    }
}

void image_text(Image* im, int x, int y, const std::string& text, int scale, uint32_t rgb) {
    for (size_t k = 0; k < text.size(); k++) {
        char c = text[k];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        const char* g = glyph(c);
        for (int r = 0; r < 5; r++)
            for (int q = 0; q < 3; q++)
                if (g[r * 3 + q] == '1')
                    image_fill_rect(im, x + ((int)k * 4 + q) * scale, y + r * scale, scale, scale, rgb);
    }
}

uint32_t heat_color(double v) {
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    // red (0) -> yellow (0.5) -> green (1)
    const int r = v < 0.5 ? 220 : (int)(220 * (1 - v) * 2);
    const int g = v < 0.5 ? (int)(200 * v * 2) : 180;
    return (uint32_t)(r << 16 | g << 8 | 60);
}

static uint32_t crc_table[256];

static uint32_t crc32(uint32_t crc, const uint8_t* p, size_t n) {
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put_be32(std::vector<uint8_t>* v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v->push_back((uint8_t)(x >> s));
}

static void chunk(std::vector<uint8_t>* out, const char* type, const std::vector<uint8_t>& data) {
    put_be32(out, (uint32_t)data.size());
    size_t start = out->size();
    out->insert(out->end(), type, type + 4);
    out->insert(out->end(), data.begin(), data.end());
    put_be32(out, crc32(0, out->data() + start, out->size() - start));
}

void png_write(const char* path, const Image* im) {
    // raw scanlines: filter byte 0, then the row's RGB
    std::vector<uint8_t> raw;
    for (int y = 0; y < im->h; y++) {
        raw.push_back(0);
        raw.insert(raw.end(), im->rgb.begin() + (long)y * im->w * 3, im->rgb.begin() + (long)(y + 1) * im->w * 3);
    }
    // zlib stream of stored deflate blocks (at most 65535 bytes each)
    std::vector<uint8_t> z = {0x78, 0x01};
    uint32_t a = 1, b = 0;
    for (uint8_t c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    for (size_t i = 0; i < raw.size() || i == 0; i += 65535) {
        const size_t n = std::min<size_t>(65535, raw.size() - i);
        z.push_back(i + n >= raw.size() ? 1 : 0);
        z.push_back((uint8_t)n), z.push_back((uint8_t)(n >> 8));
        z.push_back((uint8_t)~n), z.push_back((uint8_t)(~n >> 8));
        z.insert(z.end(), raw.begin() + (long)i, raw.begin() + (long)(i + n));
        if (raw.empty()) break;
    }
    put_be32(&z, b << 16 | a);
    std::vector<uint8_t> ihdr;
    put_be32(&ihdr, (uint32_t)im->w);
    put_be32(&ihdr, (uint32_t)im->h);
    ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, no filter, no interlace
    std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    chunk(&out, "IHDR", ihdr);
    chunk(&out, "IDAT", z);
    chunk(&out, "IEND", {});
    FILE* f = fopen(path, "wb");
    if (!f) rwkv_fail("%s: cannot create: %s", path, strerror(errno));
    const bool ok = fwrite(out.data(), 1, out.size(), f) == out.size();
    if (fclose(f) != 0 || !ok) rwkv_fail("%s: write failed", path);
}
