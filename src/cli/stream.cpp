// stream.cpp - the generation loop of generate and chat: step one sequence
// (generation.h) to its end, writing its text to stdout as it grows.
#include "../common.h"
#include "cli.h"

void cli_generate_stream(RwkvContext* ctx, GenSeq* s) {
    GenSeq* const one[1] = {s};
    size_t written = s->text.size();
    while (s->phase != GEN_DONE) {
        if (cli_interrupted()) gen_cancel(s);
        else gen_step(ctx, one, 1);
        cli_write(1, s->text.data() + written, s->text.size() - written);
        written = s->text.size();
    }
    if (s->finish == GEN_ERROR) rwkv_fail("%s", s->error.c_str());
}
