// png.h - write an RGB image as a PNG file, with no library: the pixel rows go
// into "stored" (uncompressed) deflate blocks, which every PNG reader accepts.
// Plus the few drawing helpers the heat maps need (boxes, a 3x5 pixel font).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct Image {
    int w = 0, h = 0;
    std::vector<uint8_t> rgb;  // w * h * 3
};

void image_init(Image* im, int w, int h, uint32_t rgb);
void image_fill_rect(Image* im, int x, int y, int w, int h, uint32_t rgb);
// Text in a 3x5 pixel font, scaled by `scale` (digits, upper-case letters, a few signs).
void image_text(Image* im, int x, int y, const std::string& text, int scale, uint32_t rgb);
// A colour from red (0) through yellow to green (1).
uint32_t heat_color(double v);
void png_write(const char* path, const Image* im);  // rwkv_fail on error
