// The section parsers behind parse_config(), one file per group of sections.
#pragma once

#include "cloud-config/reader.h"

namespace gantry::config::detail {

void parse_machine(Reader& r, const Fields& top, Config& c);
void parse_storage(Reader& r, const YAML::Node& n, Storage& s);
void parse_network(Reader& r, const YAML::Node& n, Network& net);
void parse_services(Reader& r, const YAML::Node& n, std::vector<Service>& out);
void parse_kv(Reader& r, const YAML::Node& n, Kv& kv);
void parse_update(Reader& r, const YAML::Node& n, Update& u);

// Whole-config checks that need more than one section: references, cycles, conflicts.
void validate(Reader& r, const Config& c);

// Small value checks shared by the section parsers.
bool is_absolute_path(std::string_view p);
bool is_valid_hostname(std::string_view h);
bool is_ip(std::string_view s);
bool is_cidr(std::string_view s);

}  // namespace gantry::config::detail
