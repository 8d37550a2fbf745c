//! The sign-in email: plain text and HTML, built without I/O.

use shared::mail::{OutgoingMail, escape_html as escape};

pub fn magic_link_mail(
    brand: &str,
    frontend_url: &str,
    token: &str,
    to: &str,
    minutes: u32,
) -> OutgoingMail {
    let link = format!("{frontend_url}/auth/verify?token={token}");
    let text = format!(
        "Sign in to {brand}\n\nOpen this link to sign in:\n{link}\n\n\
         It works once and expires in {minutes} minutes. \
         If you did not ask to sign in, ignore this email.\n"
    );
    let (brand_html, link_html) = (escape(brand), escape(&link));
    let html = format!(
        "<!doctype html><html><body>\
         <p>Sign in to {brand_html}</p>\
         <p><a href=\"{link_html}\">Sign in</a></p>\
         <p>Or paste this link into your browser: {link_html}</p>\
         <p>It works once and expires in {minutes} minutes. \
         If you did not ask to sign in, ignore this email.</p>\
         </body></html>"
    );
    OutgoingMail {
        to: to.to_owned(),
        subject: format!("Your {brand} sign-in link"),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_verify_link() {
        let mail = magic_link_mail(
            "Tickets",
            "https://app.example",
            "abc_-1",
            "ada@example.com",
            15,
        );
        let link = "https://app.example/auth/verify?token=abc_-1";
        assert!(mail.text.contains(link));
        assert!(mail.html.contains(link));
        assert!(mail.text.contains("15 minutes"));
        assert_eq!(mail.to, "ada@example.com");
    }

    #[test]
    fn the_brand_is_escaped_in_html() {
        let mail = magic_link_mail("<b>Evil</b>", "https://app.example", "t", "a@b.co", 15);
        assert!(!mail.html.contains("<b>Evil"));
        assert!(mail.html.contains("&lt;b&gt;Evil"));
    }
}
