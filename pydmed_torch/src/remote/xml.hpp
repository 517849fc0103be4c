#pragma once
// Private: the little XML an S3 store answers with (listings, errors), read by element name:
// its documents are flat and generated, so no parser is needed.
#include <string>
#include <vector>

namespace pydmed::remote {

// The text of each <tag>...</tag> in `xml`, in order, entities left as they are.
std::vector<std::string> xml_elements(const std::string& xml, const std::string& tag);
// The first one's text with its entities (&amp; &lt; &gt; &quot; &apos;) replaced; "" when none.
std::string xml_text(const std::string& xml, const std::string& tag);
std::string unescape_xml(std::string s);

}  // namespace pydmed::remote
