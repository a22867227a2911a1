// `gantry-build image ...`; argv starts after "image".
#pragma once

int image_command(int argc, char** argv);
