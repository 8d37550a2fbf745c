//! The export as an Excel workbook: one sheet, a bold header row, numbers
//! as numbers and times as date-times (UTC), so it sorts and sums.

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};
use shared::domain::export::{COLUMNS, Cell, ExportRow};

pub fn workbook(rows: &[ExportRow]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Bookings")?;
    let bold = Format::new().set_bold();
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (col, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, &bold)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        for (col, cell) in row.cells().into_iter().enumerate() {
            let col = col as u16;
            match cell {
                Cell::Text(text) if text.is_empty() => {}
                Cell::Text(text) => {
                    sheet.write_string(r, col, text)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(r, col, n as f64)?;
                }
                Cell::Time(t) => {
                    let at = ExcelDateTime::from_timestamp(t.unix_timestamp())?;
                    sheet.write_datetime_with_format(r, col, &at, &time)?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}
