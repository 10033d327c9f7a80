//! How a person's name is shown to whoever may see only part of it: a venue (the holder, a
//! presenter) and a holder's list of who may show their codes. One rule, used by the gateway's
//! disclosure and by the holder platform.

/// `张三丰` → `张*丰`, `李四` → `李*`, one character → `*`.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut s = String::with_capacity(name.len());
            s.push(chars[0]);
            s.extend(std::iter::repeat_n('*', (n - 2).min(4)));
            s.push(chars[n - 1]);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_first_and_last_character() {
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("欧阳娜娜娜娜娜"), "欧****娜");
    }
}
