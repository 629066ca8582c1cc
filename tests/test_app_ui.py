"""Issue 10, the pages a person sees: offline API docs, contrast and alt texts, the home page's
"Choose photos" area and folded options, the album's thumbnails, local times and downloads."""
from __future__ import annotations

import re

HTML = {"accept": "text/html"}


# --- API docs with no network -------------------------------------------------------------------

def local_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_docs_page_uses_only_local_assets(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    urls = local_urls(r.text)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls) and any(u.endswith(".css") for u in urls)
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    csp = r.headers["content-security-policy"]
    assert "https:" not in csp and "script-src 'self';" in csp       # no CDN, no inline script
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert client.get("/redoc").status_code == 404                     # FastAPI's CDN page is off


def test_api_link_is_in_the_footer_not_the_menu(client):
    page = client.get("/", headers=HTML).text
    nav = page[page.index("<nav"):page.index("</nav>")]
    footer = page[page.index("<footer"):page.index("</footer>")]
    assert 'href="/docs"' not in nav and 'href="/docs"' in footer
