// The image helper's report protocol: how `gantry-image ensure` (helper_main.cc), run by
// PID 1 for an image that is missing or not unpacked, tells PID 1 what it is doing.
//
// The helper writes one line per message on its stdout, which is a pipe to PID 1:
//     progress <text>                     what it is doing now (free text, one line)
//     done <sha256:manifest-digest> <name> the image is in the store, every layer unpacked
//     error <text>                        why it gave up; the text is shown to the user
// Newlines inside a text become spaces. Any other line (a library's own warning on
// stderr, which goes to the same pipe) is kept as progress. The exit status decides
// success: 0 with a `done` line, anything else a failure whose message is the last
// `error` line, else the last lines of output.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::image {

struct HelperMessage {
    enum class Kind { kProgress, kDone, kError };
    Kind kind = Kind::kProgress;
    std::string text;  // progress/error text
    Digest digest;     // done: the image manifest
    std::string name;  // done: the store name it resolved to
};

std::string format_progress(std::string_view text);
std::string format_done(const Digest& digest, std::string_view name);
std::string format_error(std::string_view text);

// One line (without its newline). Lines that are not of the protocol are progress.
HelperMessage parse_helper_line(std::string_view line);

// Collects a helper's output as it arrives (the pipe hands over arbitrary chunks) and
// decides the outcome once the process has exited.
class HelperReport {
  public:
    // Feeds bytes; complete lines are parsed. Returns the messages completed by this chunk.
    std::vector<HelperMessage> feed(std::string_view bytes);
    // The outcome for an exit status (`exit_code` 0-255, or -signal when killed).
    Result<HelperMessage> finish(int exit_code);
    const std::string& last_progress() const { return last_progress_; }

  private:
    std::string partial_;
    std::string last_progress_;
    std::optional<HelperMessage> done_;
    std::optional<std::string> error_;
};

}  // namespace gantry::image
