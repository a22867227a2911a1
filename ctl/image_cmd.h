// `gantryctl image ...`: the image store from the command line. The dispatcher calls
// image_command() with argv starting at the word after "image".
//
//   gantryctl image ls [--store DIR]
//   gantryctl image import FILE|DIR [NAME] [--platform OS/ARCH[/VARIANT]]
//   gantryctl image pull REF [--platform P] [--plain-http] [--insecure] [--user U:P] [-q]
//   gantryctl image inspect REF
//   gantryctl image rm [-f] REF...
//   gantryctl image prune [--dry-run]
// --store DIR (or $GANTRY_IMAGE_STORE) picks the store; default /var/lib/gantry/images.
#pragma once

#include <string>
#include <vector>

namespace gantry::ctl {

int image_command(int argc, char** argv);

// Shared by the image_*.cc files.
struct ImageArgs {
    std::string store;
    std::vector<std::string> rest;  // arguments after the subcommand, --store removed
};
int image_pull(const ImageArgs& args);
int image_import(const ImageArgs& args);

}  // namespace gantry::ctl
