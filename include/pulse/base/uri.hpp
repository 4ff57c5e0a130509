// A libvirt URI as the sensor shows it. KVM_HOST may carry a password in its userinfo
// (qemu+tcp://user:secret@host/system); only the libvirt connect call gets it. Tags, Kafka
// keys, logs, --check lines and metrics labels show the URI without it.
#pragma once

#include <string>
#include <string_view>

namespace pulse {

// `uri` without the password of its userinfo: "qemu+ssh://root:pw@h/system" becomes
// "qemu+ssh://root@h/system". A URI with no password comes back unchanged.
std::string uri_without_password(std::string_view uri);

// `text` (a message that may quote the URI, such as libvirt's errors) with the URI, and its
// userinfo as written or percent-decoded, shown without the password.
std::string hide_uri_password(std::string text, std::string_view uri);

}  // namespace pulse
